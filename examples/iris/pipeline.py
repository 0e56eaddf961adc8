"""The iris classifier written with flow's SDK: prepare data, train, evaluate, write metrics.

    flow run examples/iris/pipeline.py -p model_type=tree      # compiles in memory, then runs
    flow compile examples/iris/pipeline.py -o iris.yaml        # the IR, self-contained (no pip at run time)

The same pipeline, written by hand as IR, is pipeline.yaml beside this file; both give the same split and
accuracy. scikit-learn is imported inside the component functions: they run in the image (or, on the
process backend, in flow's own Python environment).
"""

from typing import NamedTuple

from runner import Dataset, Input, Metrics, Model, Output, component, pipeline

IMAGE = "flow-test/python:3.11"  # python3 with scikit-learn; no package is installed at run time


@component(base_image=IMAGE)
def prepare_data(test_size: float, seed: int, train: Output[Dataset], test: Output[Dataset]) -> None:
    """Split the iris data set bundled with scikit-learn (no network) into CSV files with a header."""
    import csv

    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    iris = load_iris()
    x_train, x_test, y_train, y_test = train_test_split(
        iris.data, iris.target, test_size=test_size, random_state=seed, stratify=iris.target
    )
    header = [*iris.feature_names, "species"]
    for path, x, y in ((train.path, x_train, y_train), (test.path, x_test, y_test)):
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(
                [*features, label] for features, label in zip(x.tolist(), y.tolist(), strict=True)
            )
    print(f"train: {len(y_train)} rows, test: {len(y_test)} rows")


@component(base_image=IMAGE)
def train(train: Input[Dataset], model_type: str, max_iter: int, seed: int, model: Output[Model]) -> None:
    """Fit a logistic regression or a decision tree on the training split."""
    import csv
    import pickle

    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    with open(train.path, newline="") as f:
        rows = list(csv.reader(f))[1:]
    x = [[float(v) for v in row[:-1]] for row in rows]
    y = [int(row[-1]) for row in rows]
    if model_type == "logistic":
        classifier = LogisticRegression(max_iter=max_iter)
    elif model_type == "tree":
        classifier = DecisionTreeClassifier(random_state=seed)
    else:
        raise ValueError(f"unknown model_type {model_type!r}: choose 'logistic' or 'tree'")
    classifier.fit(x, y)
    with open(model.path, "wb") as f:
        pickle.dump(classifier, f)
    model.framework = "scikit-learn"
    print(f"trained {model_type} on {len(y)} rows")


class Scores(NamedTuple):
    accuracy: float


@component(base_image=IMAGE)
def evaluate(model: Input[Model], test: Input[Dataset], metrics: Output[Metrics]) -> Scores:
    """Accuracy and macro F1 on the test split, as metrics (metadata) and as a JSON file."""
    import csv
    import json
    import pickle

    from sklearn.metrics import accuracy_score, f1_score

    with open(model.path, "rb") as f:
        classifier = pickle.load(f)
    with open(test.path, newline="") as f:
        rows = list(csv.reader(f))[1:]
    x = [[float(v) for v in row[:-1]] for row in rows]
    y = [int(row[-1]) for row in rows]
    predicted = classifier.predict(x).tolist()
    accuracy = float(accuracy_score(y, predicted))
    values = {
        "accuracy": accuracy,
        "f1_macro": float(f1_score(y, predicted, average="macro")),
        "correct": sum(p == t for p, t in zip(predicted, y, strict=True)),
        "total": len(y),
    }
    for name, value in values.items():
        metrics.log_metric(name, value)
    with open(metrics.path, "w") as f:
        json.dump(values, f, indent=2)
    print(json.dumps(values))
    return Scores(accuracy)


class IrisOutputs(NamedTuple):
    accuracy: float
    metrics: Metrics


@pipeline(
    name="iris-classifier",
    description="Train and evaluate a classifier on the iris data set bundled with scikit-learn.",
)
def iris_classifier(
    test_size: float = 0.3, seed: int = 42, model_type: str = "logistic", max_iter: int = 200
) -> IrisOutputs:
    data = prepare_data(test_size=test_size, seed=seed)
    model = train(train=data.outputs["train"], model_type=model_type, max_iter=max_iter, seed=seed)
    scores = evaluate(model=model.outputs["model"], test=data.outputs["test"])
    return IrisOutputs(accuracy=scores.outputs["accuracy"], metrics=scores.outputs["metrics"])
