"""ODIN, Mahalanobis, KNN, ViM and ReAct: values computed by hand on a linear model with fixed weights,
and scikit-learn / scipy references on random features."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import mahalanobis as scipy_mahalanobis
from scipy.special import logsumexp
from sklearn.neighbors import NearestNeighbors

from osrbench import OpenSetModel, OsrbenchError, Prediction, RunContext, TrainData
from osrbench.batches import to_float
from osrbench.plugins import load_plugins
from osrbench.progress import Progress

E = math.exp
W3 = [[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]
B3 = [0.0, 0.5, 0.0]
OFFSET = 128  # toy features are stored as uint8 pixels: feature = pixel - 128


class LinearToy(OpenSetModel):
    """Features = the pixels of a 1x1x2 'image' (times ``scale``, minus ``offset``); logits = f Wᵀ + b."""

    def __init__(self, weight=W3, bias=B3, scale: float = 255.0, offset: float = OFFSET):
        super().__init__()
        self.weight, self.bias = torch.tensor(weight), torch.tensor(bias)
        self.scale, self.offset = scale, offset

    def features(self, x):
        return x.flatten(1).float() * self.scale - self.offset

    def logits(self, x):
        return self.features(x) @ self.weight.T + self.bias

    def linear_head(self):
        return self.weight, self.bias

    def predict(self, x):
        logits = self.logits(x)
        return Prediction(logits.argmax(dim=1), logits.amax(dim=1))


def images(points) -> torch.Tensor:
    """uint8 (N, 1, 1, D) images whose toy features are ``points`` (integers in -128..127)."""
    p = torch.as_tensor(points, dtype=torch.int64) + OFFSET
    return p.to(torch.uint8).view(len(p), 1, 1, -1)


def ctx(tmp_path) -> RunContext:
    return RunContext(device=torch.device("cpu"), seed=0, work_dir=tmp_path, progress=Progress(quiet=True))


def fitted(name, model, points, labels, tmp_path, **options):
    spec = load_plugins().postprocessors.get(name)
    pp = spec.build(spec.config(**options))
    pp.fit(model, TrainData(images(points), torch.tensor(labels), int(max(labels)) + 1), ctx(tmp_path))
    return pp


def scores(pp, model, points):
    return pp.score(model, to_float(images(points))).tolist()


# --------------------------------------------------------------------------- by hand


def test_odin_by_hand():
    spec = load_plugins().postprocessors.get("odin")
    model = LinearToy(scale=1.0, offset=0.0)  # features = the float input itself
    x = torch.tensor([[2.0, 0.0]])
    # logits [2, .5, -2], ŷ = 0; ∇ₓCE = Wᵀ(p − e₀) = (p₀ − 1 − p₂, p₁ − p₂) has signs (−, +):
    # x̃ = x − ε·sign = (2 + ε, −ε); logits (2.1, 0.4, −2.0) at ε = 0.1, T = 1
    odin = spec.build(spec.config(temperature=1.0, epsilon=0.1))
    assert odin.score(model, x).item() == pytest.approx(E(2.1) / (E(2.1) + E(0.4) + E(-2.0)))
    # T = 2, no perturbation: the temperature-scaled MSP
    plain = spec.build(spec.config(temperature=2.0, epsilon=0.0))
    assert plain.score(model, x).item() == pytest.approx(E(1) / (E(1) + E(0.25) + E(-1)))
    assert spec.config().temperature == 1000.0 and spec.config().epsilon == 0.0014  # the paper's CIFAR values


def test_mahalanobis_by_hand(tmp_path):
    # class means (2,0), (0,2), (-2,-2); class-centred residuals ±(1,0), ±(0,1), ±(1,1):
    # Σ = [[2/3, 1/3], [1/3, 2/3]], Σ⁻¹ = [[2, −1], [−1, 2]]
    points = [(1, 0), (3, 0), (0, 1), (0, 3), (-1, -1), (-3, -3)]
    pp = fitted("mahalanobis", LinearToy(), points, [0, 0, 1, 1, 2, 2], tmp_path)
    # f = (2, 1): d² = 2 (to class 0), 14 (class 1), 26 (class 2)
    assert scores(pp, LinearToy(), [(2, 1)]) == pytest.approx([-2.0], abs=1e-4)


def test_knn_by_hand(tmp_path):
    pp = fitted("knn", LinearToy(), [(3, 0), (0, 5), (-2, 0), (0, -1)], [0, 1, 2, 0], tmp_path, k=2)
    # (1, 1)/√2 has cosines √½, √½, −√½, −√½ with the unit training features: 2nd nearest at √(2 − √2)
    assert scores(pp, LinearToy(), [(1, 1)]) == pytest.approx([-math.sqrt(2 - math.sqrt(2))], abs=1e-5)
    with pytest.raises(OsrbenchError, match="knn.k=5: the training set has only 4 images"):
        fitted("knn", LinearToy(), [(3, 0), (0, 5), (-2, 0), (0, -1)], [0, 1, 2, 0], tmp_path, k=5)


def test_vim_by_hand(tmp_path):
    model = LinearToy(weight=[[1.0, 0.0], [0.0, 1.0]], bias=[0.0, 0.0])
    # origin −W⁺b = 0; covariance diag(8, 2)/4: principal axis x, residual axis y;
    # training virtual norms |y| = 0, 0, 1, 1 (mean 0.5), max logits 2, 0, 1, 0 (mean 0.75): α = 1.5
    pp = fitted("vim", model, [(2, 0), (-2, 0), (0, 1), (0, -1)], [0, 0, 1, 1], tmp_path, dim=1)
    assert pp.alpha == pytest.approx(1.5)
    assert scores(pp, model, [(1, 2)]) == pytest.approx([math.log(E(1) + E(2)) - 1.5 * 2], abs=1e-5)


def test_react_by_hand(tmp_path):
    # training activations 1..10: the 90th percentile (linear interpolation) is 9.1
    pp = fitted("react", LinearToy(), [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10)], [0, 1, 2, 0, 1], tmp_path)
    assert pp.threshold == pytest.approx(9.1)
    # f = (10, 3) -> (9.1, 3): logits (9.1, 3.5, −12.1)
    assert scores(pp, LinearToy(), [(10, 3)]) == pytest.approx([math.log(E(9.1) + E(3.5) + E(-12.1))], abs=1e-4)


# --------------------------------------------------------------------------- references on random features

RNG = np.random.default_rng(0)
TRAIN = RNG.integers(-60, 60, size=(90, 2))
LABELS = np.repeat([0, 1, 2], 30)
TEST = RNG.integers(-60, 60, size=(25, 2))


def test_mahalanobis_equals_scipy_on_random_features(tmp_path):
    pp = fitted("mahalanobis", LinearToy(), TRAIN, LABELS.tolist(), tmp_path)
    means = np.stack([TRAIN[LABELS == c].mean(0) for c in range(3)])
    inverse = np.linalg.inv(np.cov((TRAIN - means[LABELS]).T, bias=True))
    expected = [-min(scipy_mahalanobis(t, m, inverse) ** 2 for m in means) for t in TEST]
    np.testing.assert_allclose(scores(pp, LinearToy(), TEST), expected, rtol=1e-4, atol=1e-4)


def test_relative_mahalanobis_equals_scipy_on_random_features(tmp_path):
    pp = fitted("relative-mahalanobis", LinearToy(), TRAIN, LABELS.tolist(), tmp_path)
    means = np.stack([TRAIN[LABELS == c].mean(0) for c in range(3)])
    inverse = np.linalg.inv(np.cov((TRAIN - means[LABELS]).T, bias=True))
    background = np.linalg.inv(np.cov(TRAIN.T, bias=True))
    expected = [-(min(scipy_mahalanobis(t, m, inverse) ** 2 for m in means)
                  - scipy_mahalanobis(t, TRAIN.mean(0), background) ** 2) for t in TEST]
    np.testing.assert_allclose(scores(pp, LinearToy(), TEST), expected, rtol=1e-4, atol=1e-4)


def norm_scaled_classes(seed: int = 0):
    """Features s·(μ_c + ε) as a trained network's penultimate layer gives them: a few directions tell the
    classes apart, many more carry noise, and the scale s of a feature varies; unknown classes lie between
    known ones (near-OOD) with smaller norms. Returns training features and labels, known and unknown test
    features, as integers in -128..127 (LinearToy pixels)."""
    rng = np.random.default_rng(seed)
    dim, known, per_class = 48, 4, 400
    signal = rng.normal(0, 1, (known, dim)) * np.r_[np.full(8, 3.0), np.zeros(dim - 8)]
    means = np.concatenate([signal, (signal[[0, 2]] + signal[[1, 3]]) / 2]) + np.r_[np.zeros(8), np.full(dim - 8, 4.0)]

    def draw(classes, n, scale):
        f = np.concatenate([np.abs(rng.normal(scale, 0.25, (n, 1))) * (means[c] + rng.normal(0, 1, (n, dim)))
                            for c in classes])
        return np.clip(np.round(f * 5), -128, 127).astype(int)

    return (draw(range(known), per_class, 1.0), np.repeat(np.arange(known), per_class),
            draw(range(known), per_class // 2, 1.0), draw(range(known, known + 2), per_class, 0.7))


def test_where_feature_norms_differ_the_plain_distance_falls_below_chance_and_the_relative_one_does_not(tmp_path):
    """What the CIFAR ResNet-9's features do to Mahalanobis (0.47 AUROC there, relative 0.86): the noise
    directions, whitened, make every feature about D away from its class mean, and that part shrinks with
    the norm, so low-norm unknowns come out closer than known test images. The relative distance subtracts
    the same part measured under one Gaussian of all training features."""
    from osrbench.metrics import auroc

    train, labels, known, unknown = norm_scaled_classes()
    model = LinearToy(scale=255 / 5, offset=OFFSET / 5)  # features = the integers / 5
    plain = fitted("mahalanobis", model, train, labels.tolist(), tmp_path)
    relative = fitted("relative-mahalanobis", model, train, labels.tolist(), tmp_path)
    auc = {name: auroc(torch.tensor(scores(pp, model, known)), torch.tensor(scores(pp, model, unknown)))
           for name, pp in (("plain", plain), ("relative", relative))}
    assert auc["plain"] < 0.5 and auc["relative"] > 0.95, auc


def test_knn_equals_scikit_learn_neighbours_on_random_features(tmp_path):
    pp = fitted("knn", LinearToy(), TRAIN, LABELS.tolist(), tmp_path, k=7)
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    distances, _ = NearestNeighbors(n_neighbors=7).fit(unit(TRAIN)).kneighbors(unit(TEST))
    np.testing.assert_allclose(scores(pp, LinearToy(), TEST), -distances[:, -1], atol=1e-4)


def test_react_and_vim_follow_their_formulas_on_random_features(tmp_path):
    w, b = np.array(W3), np.array(B3)
    react = fitted("react", LinearToy(), TRAIN, LABELS.tolist(), tmp_path, percentile=75.0)
    clipped = np.minimum(TEST, np.percentile(TRAIN, 75))
    np.testing.assert_allclose(scores(react, LinearToy(), TEST), logsumexp(clipped @ w.T + b, axis=1), rtol=1e-4)
    vim = fitted("vim", LinearToy(), TRAIN, LABELS.tolist(), tmp_path, dim=1)
    origin = -np.linalg.pinv(w) @ b
    values, vectors = np.linalg.eigh(np.cov((TRAIN - origin).T, bias=True) + np.outer(*(2 * [TRAIN.mean(0) - origin])))
    residual = vectors[:, np.argsort(-values)[1:]]
    alpha = (TRAIN @ w.T + b).max(1).mean() / np.linalg.norm((TRAIN - origin) @ residual, axis=1).mean()
    expected = logsumexp(TEST @ w.T + b, axis=1) - alpha * np.linalg.norm((TEST - origin) @ residual, axis=1)
    np.testing.assert_allclose(scores(vim, LinearToy(), TEST), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name, option", [("odin", {"temperature": 0.0}), ("knn", {"k": 0}),
                                          ("react", {"percentile": 0.0}), ("vim", {"dim": -1}),
                                          ("relative-mahalanobis", {"batch_size": 0})])
def test_bad_options_are_one_line(name, option):
    spec = load_plugins().postprocessors.get(name)
    with pytest.raises(OsrbenchError, match=f"--set {name}.{next(iter(option))}="):
        spec.config(**option).validate()


# --------------------------------------------------------------------------- the path a GPU run takes


class Bf16Context(RunContext):
    """A run context whose autocast is bf16 on the CPU, as a CUDA run's is on the GPU."""

    def autocast(self):
        return torch.autocast(device_type="cpu", dtype=torch.bfloat16)


class IllConditionedNet(OpenSetModel):
    """Features of a trained network's kind: a linear map of the pixels with singular values from 10² to 10⁻³
    and a large offset, averaged over two test-time views (the image and its mirror)."""

    def __init__(self, pixels: int, num_classes: int):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        q, _ = torch.linalg.qr(torch.randn(pixels, pixels, generator=g))
        self.embed_layer = torch.nn.Linear(pixels, pixels)
        self.head = torch.nn.Linear(pixels, num_classes)
        with torch.no_grad():
            self.embed_layer.weight.copy_(q * torch.logspace(2, -3, pixels)[None])
            self.embed_layer.bias.fill_(100.0)

    def features(self, x):
        views = [x, x.flip(3)]
        return sum(self.embed_layer(v.flatten(1)) for v in views) / len(views)

    def logits(self, x):
        return self.head(self.features(x))

    def linear_head(self):
        return self.head.weight, self.head.bias

    def predict(self, x):
        logits = self.logits(x).float()
        return Prediction(logits.argmax(dim=1), logits.amax(dim=1))


def gaussian_classes(num_classes: int, per_class: int, side: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    means = torch.rand(num_classes, 1, side, side, generator=torch.Generator().manual_seed(1)) * 130 + 60
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    noisy = means[labels] + 12 * torch.randn(len(labels), 1, side, side, generator=g)
    return noisy.round().clamp(0, 255).to(torch.uint8), labels


def test_mahalanobis_is_near_perfect_on_gaussian_classes_under_bf16_autocast_and_test_views(tmp_path):
    """Gaussian classes in pixel space stay Gaussian under a linear network, so Mahalanobis must separate
    known from unknown classes almost perfectly, also with the bf16 autocast and the averaged test views
    of a CUDA run and the ill-conditioned covariance of a real network's features. (Computing the
    distances as fᵀPf − 2fᵀPμ + μᵀPμ in float32 on bf16 features gave an AUROC near 0.5 here.)"""
    from osrbench.api import ScoredModel
    from osrbench.batches import predict_all
    from osrbench.metrics import auroc

    side, known = 8, 4
    images_all, labels_all = gaussian_classes(known + 2, 600, side, seed=0)
    is_known = labels_all < known
    train_x, train_y = images_all[is_known][::2], labels_all[is_known][::2]
    test_known, test_unknown = images_all[is_known][1::2], images_all[~is_known]
    model = IllConditionedNet(side * side, known).eval()
    run = Bf16Context(device=torch.device("cpu"), seed=0, work_dir=tmp_path, progress=Progress(quiet=True))
    spec = load_plugins().postprocessors.get("mahalanobis")
    pp = spec.build(spec.config())
    pp.fit(model, TrainData(train_x, train_y, known), run)
    scored = ScoredModel(model, pp)
    k, u = (predict_all(scored, x, run).scores for x in (test_known, test_unknown))
    assert auroc(k, u) > 0.99


class CountingNet(IllConditionedNet):
    """IllConditionedNet counting the images it embeds."""

    embedded = 0

    def features(self, x):
        self.embedded += len(x)
        return super().features(x)


def test_the_feature_postprocessors_of_one_model_embed_the_training_set_once(tmp_path):
    images_all, labels = gaussian_classes(3, 40, 4, seed=0)
    train = TrainData(images_all, labels, 3)
    model = CountingNet(16, 3).eval()
    plugins = load_plugins()
    fitted_pps = []
    for name in ("mahalanobis", "relative-mahalanobis", "knn", "vim", "react"):
        spec = plugins.postprocessors.get(name)
        pp = spec.build(spec.config(**({"k": 5} if name == "knn" else {})))
        pp.fit(model, train, ctx(tmp_path))
        fitted_pps.append(pp)
    assert model.embedded == len(images_all)
    reference = spec.build(spec.config())
    with torch.no_grad():  # a changed weight is a changed model: its features are embedded again
        model.embed_layer.weight.mul_(2)
    reference.fit(model, train, ctx(tmp_path))
    assert model.embedded == 2 * len(images_all) and reference.threshold != fitted_pps[-1].threshold
    reference.fit(CountingNet(16, 3).eval(), train, ctx(tmp_path))  # another model embeds for itself
    assert model.embedded == 2 * len(images_all)


# --------------------------------------------------------------------------- bounded memory, outputs shared


class ConvToy(OpenSetModel):
    """A small convolutional network in eval mode (fixed random weights, batch-norm statistics) with two test-time
    views, the image and its mirror; counts the images its network embeds and those of each gradient pass."""

    def __init__(self, classes: int = 3):
        super().__init__()
        with torch.random.fork_rng():
            torch.manual_seed(0)
            self.body = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.BatchNorm2d(8),
                                            torch.nn.GELU(), torch.nn.MaxPool2d(2), torch.nn.Flatten())
            self.head = torch.nn.Linear(8 * 4 * 4, classes)
            self.body[1].running_mean.normal_()
            self.body[1].running_var.uniform_(0.5, 2)
        self.embedded, self.gradient_passes = 0, []
        self.eval()

    def features(self, x):
        self.embedded += len(x)
        return sum(self.body(v) for v in (x, x.flip(3))) / 2

    def logits(self, x):
        if torch.is_grad_enabled():
            self.gradient_passes.append(len(x))
        return self.head(self.features(x))

    def linear_head(self):
        return self.head.weight, self.head.bias

    def predict(self, x):
        logits = self.logits(x)
        return Prediction(logits.argmax(dim=1), logits.softmax(dim=1).amax(dim=1))


def pixels(n: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 256, (n, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_odin_perturbs_in_bounded_gradient_passes_and_scores_as_in_one_pass(monkeypatch):
    """The gradient pass holds every activation for the backward pass (14 GiB for 1,024 CIFAR images with six
    views): it goes in parts of at most GRADIENT_PIXELS pixels, with the scores of one pass over the batch."""
    from osrbench_postprocessors import odin

    assert odin.gradient_batch(torch.empty(1024, 3, 32, 32)) == 256
    assert odin.gradient_batch(torch.empty(1024, 3, 64, 64)) == 64
    assert odin.gradient_batch(torch.empty(2, 3, 4096, 4096)) == 1
    spec = load_plugins().postprocessors.get("odin")
    pp, model, x = spec.build(spec.config()), ConvToy(), to_float(pixels(50, 0))
    monkeypatch.setattr(odin, "GRADIENT_PIXELS", 10**9)
    whole = pp.score(model, x)
    assert model.gradient_passes == [50]
    model.gradient_passes.clear()
    monkeypatch.setattr(odin, "GRADIENT_PIXELS", 7 * 8 * 8)
    parts = pp.score(model, x)
    assert model.gradient_passes == [7] * 7 + [1]
    torch.testing.assert_close(parts, whole, rtol=1e-6, atol=0)
    assert not torch.equal(whole, spec.build(spec.config(epsilon=0.0)).score(model, x))  # the step moved the scores


def test_knn_compares_with_the_bank_in_row_blocks_as_in_one_product():
    from osrbench_postprocessors.feature_scores import KNN_ROWS, kth_cosine

    g = torch.Generator().manual_seed(0)
    z = torch.nn.functional.normalize(torch.randn(KNN_ROWS + 45, 16, generator=g), dim=1)
    bank = torch.nn.functional.normalize(torch.randn(500, 16, generator=g), dim=1)
    whole = (z @ bank.T).topk(9, dim=1).values[:, -1]
    for rows in (7, KNN_ROWS, len(z)):
        torch.testing.assert_close(kth_cosine(z, bank, 9, rows), whole, rtol=1e-6, atol=1e-7)


def test_the_postprocessors_of_one_model_embed_each_test_batch_once_per_kind_of_output(tmp_path):
    """msp, mls, energy and ODIN at ε = 0 read one computation of each batch's logits, the five feature
    postprocessors one of its float32 features; the scores are those each computes for itself."""
    from osrbench.api import ScoredModel
    from osrbench.batches import predict_all
    from osrbench_postprocessors.shared_outputs import shared_outputs

    plugins, model, run = load_plugins(), ConvToy(), ctx(tmp_path)
    train, test = TrainData(pixels(60, 1), torch.arange(60) % 3, 3), pixels(70, 2)
    options = {"knn": {"k": 5}, "odin": {"epsilon": 0.0}}
    shared_outputs.clear()
    names = ["msp", "mls", "energy", "odin", "mahalanobis", "relative-mahalanobis", "knn", "vim", "react"]
    for name in names:
        spec = plugins.postprocessors.get(name)
        pp = spec.build(spec.config(**options.get(name, {})))
        pp.fit(model, train, run)
        with torch.no_grad():  # as the harness scores: the outputs are shared
            shared = torch.cat([pp.score(model, to_float(part)) for part in test.split(32)])
        embedded = model.embedded
        alone = torch.cat([pp.score(model, to_float(part)) for part in test.split(32)]).detach()  # computed afresh
        model.embedded = embedded
        torch.testing.assert_close(shared, alone, rtol=0, atol=0)
    # the training set once (the feature postprocessors), the test set once for the logits, once for the features
    assert model.embedded == len(train.images) + 2 * len(test)
    scored = predict_all(ScoredModel(model, pp).eval(), test, run, batch_size=32)  # a scorer's path: shared too
    assert model.embedded == len(train.images) + 3 * len(test)  # the model's own prediction alone
    torch.testing.assert_close(scored.scores, alone, rtol=0, atol=0)


def test_shared_outputs_are_used_only_for_an_equal_batch_of_the_unchanged_model():
    from osrbench_postprocessors.shared_outputs import SharedOutputs, shared_logits, shared_outputs

    memo, model, x = SharedOutputs(), ConvToy(), to_float(pixels(20, 3))

    def get(kind="features", m=None, images=None):
        m = m or model
        before = m.embedded
        out = memo.get(kind, m, x if images is None else images, m.features)
        return out, m.embedded > before  # (output, whether it was computed)

    with torch.no_grad():
        first, computed = get()
        assert computed
        again, computed = get(images=x.clone())  # an equal batch: the kept output itself
        assert again is first and not computed
        assert get("logits")[1]  # another kind of output
        other = x.clone()
        other[0, 0, 0, 0] = 1 - other[0, 0, 0, 0]
        assert get(images=other)[1]
        assert get(images=torch.rand(20, 1, 8, 8))[1] and get(images=torch.rand(20, 1, 8, 8))[1]  # not pixels: none kept
        model.head.bias.add_(1)  # changed in place: everything kept is forgotten
        assert get()[1] and not get()[1]
        model.train()
        assert get()[1]
        model.eval()
        assert get()[1] and get(m=ConvToy())[1] and get()[1]  # another model
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = shared_logits(model, x)
        assert not torch.equal(shared_logits(model, x), bf16)  # logits under another autocast are not the same
    assert get()[1]  # gradients enabled: computed
    shared_outputs.clear()


def test_shared_outputs_keep_at_most_their_budget_and_go_with_their_model():
    import gc

    from osrbench_postprocessors.shared_outputs import SharedOutputs

    model, x, y = ConvToy(), to_float(pixels(20, 4)), to_float(pixels(20, 5))
    one_batch = x.numel() + 20 * 128 * 4  # its pixels (uint8) and its float32 features (8 x 4 x 4 each)
    memo = SharedOutputs(kept_bytes=one_batch)
    with torch.no_grad():
        for images in (x, y, x, y):
            memo.get("features", model, images, model.features)
        assert model.embedded == 3 * 20  # x kept; y computed each time
        assert memo._bytes == one_batch
        del model
        gc.collect()
        assert memo._bytes == 0 and not memo._batches
