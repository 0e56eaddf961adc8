"""What the test pipelines written with the real kfp SDK share: lightweight components without kfp's pip
step, and a typed pipeline decorator."""

from collections.abc import Callable
from typing import Any

from kfp import dsl
from kfp.dsl.graph_component import GraphComponent


def lightweight(image: str) -> Callable[[Callable[..., Any]], Any]:
    """A decorator making kfp lightweight components that run in `image`. kfp's pip step is left out: the
    test images and the host already have kfp, and no package index is reachable from the tests."""

    def component(func: Callable[..., Any]) -> Any:
        return dsl.component(func, base_image=image, install_kfp_package=False)

    return component


def pipeline(name: str) -> Callable[[Callable[..., Any]], GraphComponent]:
    decorate: Callable[[Callable[..., Any]], GraphComponent] = dsl.pipeline(name=name)
    return decorate
