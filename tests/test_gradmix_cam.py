"""LayerCAM / Grad-CAM maps: the formulas, the reuse of the training forward pass, and the ``grad-cam`` package."""

import pytest
import torch
from osrbench_gradmix.cam import combine_maps, layer_map, record_outputs
from osrbench_gradmix.losses import simclr_per_anchor
from osrbench_gradmix.network import ContrastiveNet
from osrbench_gradmix.objective import StepSaliency, fresh_saliency
from torch import nn
from torch.nn import functional as F


def tiny_net(seed=0):
    torch.manual_seed(seed)
    return ContrastiveNet(3, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), width=8, head_dim=16)


def view_pair(n=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 32, 32, generator=g), torch.rand(n, 3, 32, 32, generator=g)


def test_layer_maps_follow_the_formulas():
    a = torch.tensor([[[[1.0, 2.0]], [[3.0, -1.0]]]])  # (1, 2 channels, 1, 2)
    g = torch.tensor([[[[0.5, -1.0]], [[-2.0, 1.0]]]])
    # LayerCAM: relu(g) * a summed over channels, then relu: [0.5*1 + 0, 0 + 1*(-1)] -> [0.5, 0]
    assert layer_map(a, g, "layercam").tolist() == [[[0.5, 0.0]]]
    # Grad-CAM: channel weights mean(g) = [-0.25, -0.5]: [-0.25 - 1.5, -0.5 + 0.5] -> relu -> [0, 0]
    assert layer_map(a, g, "gradcam").tolist() == [[[0.0, 0.0]]]


def test_single_layer_maps_keep_the_argmax_of_the_upsampled_map():
    coarse = torch.rand(4, 4, 4)
    combined = combine_maps([coarse], (32, 32))
    plain = F.interpolate(coarse[:, None], size=(32, 32), mode="bilinear", align_corners=False)[:, 0]
    assert torch.equal(combined.flatten(1).argmax(1), plain.flatten(1).argmax(1))
    assert combined.min() == 0 and combined.max() == pytest.approx(1.0)


def test_hooks_are_removed_after_recording():
    net = tiny_net()
    blocks = net.cam_layers()
    with record_outputs(blocks) as outputs:
        net(torch.rand(2, 3, 32, 32))
    assert set(outputs) == set(blocks) and outputs["layer4.1"].shape == (2, 64, 4, 4)
    outputs.clear()
    net(torch.rand(2, 3, 32, 32))
    assert outputs == {}


@pytest.mark.parametrize("kind", ["layercam", "gradcam"])
def test_reusing_the_training_forward_gives_the_fresh_pass_maps(kind):
    net = tiny_net()
    view1, view2 = view_pair()
    layers = ("layer3.1", "layer4.1")
    with record_outputs(net.cam_layers()) as outputs:
        z = net(torch.cat([view1, view2]))
    loss = simclr_per_anchor(z, 0.05, 0.07).mean()
    saliency = StepSaliency(net, view1, view2, outputs, loss, 0.05, 0.07)
    reused = saliency(view1, None, kind=kind, layers=layers)
    fresh = fresh_saliency(net, view1, view2, kind, layers, 0.05, 0.07)
    assert reused.shape == (6, 32, 32)
    assert torch.allclose(reused, fresh, atol=1e-5)
    # other images (not this step's view 1) get a separate pass against the step's view 2
    assert torch.allclose(saliency(view1.clone(), None, kind=kind, layers=layers), fresh, atol=1e-5)
    loss.backward()  # the training graph survives the map computation
    assert all(p.grad is not None for p in net.head.parameters())


def test_maps_leave_parameter_gradients_untouched():
    net = tiny_net()
    view1, view2 = view_pair()
    fresh_saliency(net, view1, view2, "layercam", ("layer4.1",), 0.05, 0.07)
    assert all(p.grad is None for p in net.parameters())


class PerAnchorSimCLR(nn.Module):
    """The 2N-view batch -> (2N, 1) SimCLR losses, the form the grad-cam package back-propagates."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, views):
        return simclr_per_anchor(self.net(views), 0.05, 0.07)[:, None]


class FirstOutput:
    def __call__(self, output):
        return output[0]


@pytest.mark.parametrize("kind", ["layercam", "gradcam"])
def test_maps_agree_with_the_grad_cam_package(kind):
    cams = pytest.importorskip("pytorch_grad_cam")
    net = tiny_net(3)
    view1, view2 = view_pair(8, 4)
    views = torch.cat([view1, view2])
    method = cams.LayerCAM if kind == "layercam" else cams.GradCAM
    reference = method(model=PerAnchorSimCLR(net), target_layers=[net.encoder.layer4[1]])(
        input_tensor=views, targets=[FirstOutput()] * len(views))[:8]  # puts the net in eval mode
    ours = fresh_saliency(net, view1, view2, kind, ("layer4.1",), 0.05, 0.07)
    low = ours.amin(dim=(1, 2), keepdim=True)
    ours = (ours - low) / (ours.amax(dim=(1, 2), keepdim=True) - low).clamp_min(1e-12)
    reference = torch.from_numpy(reference).float()
    nonzero = reference.flatten(1).amax(1) > 0  # Grad-CAM maps can be all zero after the ReLU
    assert nonzero.sum() >= 4
    # the package scales each 4x4 map to [0, 1] and then resizes it (OpenCV); we resize, then scale: same maps
    assert (ours[nonzero] - reference[nonzero]).abs().max() < 1e-4
    # our patch centre lies on the package's maximum (up to ties between equal pixels)
    picked = reference[nonzero].flatten(1).gather(1, ours[nonzero].flatten(1).argmax(1, keepdim=True))[:, 0]
    assert torch.allclose(picked, reference[nonzero].flatten(1).amax(1), atol=1e-4)
