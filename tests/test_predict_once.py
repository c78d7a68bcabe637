"""Predict once: a trained model predicts each test image once, and the health check, every
postprocessor and every scorer share that prediction (docs/architecture.md)."""

from dataclasses import dataclass

from guide import write_blobs, write_protocol
from test_faults import EmptyConfig, NearestMean

import osrbench
from osrbench import DataOptions, MethodSpec, Postprocessor, PostprocessorSpec, ScorerSpec
from osrbench.batches import predict_all
from osrbench.plugins import build_plugins
from osrbench.runner import Run, RunRequest


class CountingMean(NearestMean):
    """The nearest-class-mean model, counting the images it is asked to predict."""

    def predict(self, images):
        self.predicted_images = getattr(self, "predicted_images", 0) + len(images)
        return super().predict(images)


class Brightness(Postprocessor):
    """A second score that reads the images only (never the model's predict)."""

    def score(self, model, images):
        return images.flatten(1).mean(1)


@dataclass
class Counting:
    models: list

    @osrbench.hookimpl
    def osrbench_methods(self):
        return [MethodSpec("counting", "nearest class mean, counting predictions", EmptyConfig, self.fit)]

    @osrbench.hookimpl
    def osrbench_postprocessors(self):
        return [PostprocessorSpec("brightness", "mean pixel value", EmptyConfig, lambda config: Brightness())]

    @osrbench.hookimpl
    def osrbench_scorers(self):
        def labels_again(model, split, config, ctx):  # reads the known test set once more
            return {"labels": predict_all(model, split.test_images, ctx).labels.tolist()}
        return [ScorerSpec("labels-again", "the predicted known test labels", EmptyConfig, labels_again)]

    def fit(self, split, config, ctx):
        self.models.append(CountingMean(split, "none"))
        self.split = split
        return self.models[-1]


def test_each_test_image_is_predicted_once_for_the_health_check_every_postprocessor_and_scorer(tmp_path):
    write_blobs(tmp_path / "data")
    protocol = write_protocol(tmp_path)
    plugin = Counting([])
    request = RunRequest(method="counting", protocol=str(protocol), postprocessors=["counting", "brightness"],
                         scorers=["osr", "labels-again"], splits=[0], data=DataOptions(tmp_path / "data"),
                         results_dir=tmp_path / "res", overrides={"osr.plots": "false"}, quiet=True)
    (record,) = Run(request, build_plugins(extra={"counting": plugin})).execute()
    (model,) = plugin.models
    split = plugin.split
    assert model.predicted_images == len(split.test_images) + len(split.unknown_images)
    own, other = record["metrics"]["counting"], record["metrics"]["brightness"]
    assert own["osr"]["accuracy"] == other["osr"]["accuracy"] > 0.8  # the same labels through both
    assert own["labels-again"]["labels"] == other["labels-again"]["labels"]
    expected = model.predict(split.test_images.float() / 255).labels  # predicted afresh, outside the run
    assert own["labels-again"]["labels"] == expected.tolist()
    assert own["osr"]["auroc"] != other["osr"]["auroc"]  # each postprocessor its own scores


def test_a_scorer_with_its_own_batch_size_predicts_for_itself(tmp_path):
    write_blobs(tmp_path / "data")
    protocol = write_protocol(tmp_path)
    plugin = Counting([])
    request = RunRequest(method="counting", protocol=str(protocol), scorers=["osr"], splits=[0],
                         data=DataOptions(tmp_path / "data"), results_dir=tmp_path / "res", quiet=True,
                         overrides={"osr.plots": "false", "osr.batch_size": "7"})
    Run(request, build_plugins(extra={"counting": plugin})).execute()
    split = plugin.split
    # the shared prediction of the known set (health check), then osr's own batches of 7 of both sets
    assert plugin.models[0].predicted_images == 2 * len(split.test_images) + len(split.unknown_images)
