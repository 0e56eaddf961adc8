"""The names `flow show` and the UI give a task's inputs: the ones the user wrote, not the compiler's channel
names.

kfp's compiler (and flow's SDK, which compiles as it does) hands a pipeline parameter, a task's output or a
loop's item to a task inside a condition, a loop or an f-string through an input of the task's own, named
`pipelinechannel--` and the channel: `pipelinechannel--big` (the pipeline's `big`),
`pipelinechannel--train-accuracy` (task `train`'s output `accuracy`), `pipelinechannel--loop-item-param-1`
(the item of a loop over a constant list), `pipelinechannel--nums-Output-loop-item` (over `nums`' output),
`...-subvar-a` (an item's field `a`). Shown: `big`, `train.accuracy`, `item` (the list is the loop task's
input), `item.a`. The IR's names stay those of the store, of `flow show -o json` and of the UI's `inputs`.
"""

from __future__ import annotations

import re
from typing import Any

CHANNEL_PREFIX = "pipelinechannel--"
# A loop's item: over a constant list, or over a pipeline parameter's or a task output's list.
_LOOP_ITEM = re.compile(r"(?:loop-item-param-\d+|.+-loop-item)(?:-subvar-(?P<field>.+))?")
_ONEOF = re.compile(r".+-oneof-\d+")  # the output of a dsl.OneOf: no name of the user's


def shown_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    """The task's inputs under the names the user wrote: its component's own first, then the channels; a
    channel whose name another input already has keeps the compiler's name."""
    shown = {name: value for name, value in inputs.items() if not name.startswith(CHANNEL_PREFIX)}
    for name, value in inputs.items():
        if name.startswith(CHANNEL_PREFIX):
            user_name = channel_name(name)
            shown[name if user_name in shown else user_name] = value
    return shown


def channel_name(name: str) -> str:
    """The name the user wrote for an input the compiler named `pipelinechannel--...`; others as they are."""
    if not name.startswith(CHANNEL_PREFIX):
        return name
    channel = name[len(CHANNEL_PREFIX) :]
    item = _LOOP_ITEM.fullmatch(channel)
    if item:
        return f"item.{item['field']}" if item["field"] else "item"
    if _ONEOF.fullmatch(channel) or "-" not in channel:
        return channel
    # A task name has dashes; an output's name and a pipeline parameter's are Python names, with none.
    task, output = channel.rsplit("-", 1)
    return f"{task}.{output}"
