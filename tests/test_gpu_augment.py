import torch

from osrbench.gpu_augment import cutout, random_crop, random_hflip


def test_random_crop_is_a_translated_window_of_the_reflect_padded_image():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).view(2, 1, 6, 6)
    g = torch.Generator().manual_seed(0)
    out = random_crop(x, 2, g)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="reflect")
    for b in range(2):
        windows = [padded[b, :, dy:dy + 6, dx:dx + 6] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(out[b], w) for w in windows)


def test_flip_mirrors_or_keeps_each_image():
    x = torch.rand(16, 3, 4, 4)
    out = random_hflip(x, torch.Generator().manual_seed(0))
    for b in range(16):
        assert torch.equal(out[b], x[b]) or torch.equal(out[b], x[b].flip(2))


def test_cutout_zeroes_at_most_a_size_square_per_image():
    x = torch.ones(32, 1, 10, 10)
    out = cutout(x, 4, torch.Generator().manual_seed(0))
    zeros = (out == 0).sum(dim=(1, 2, 3))
    assert (zeros <= 16).all() and (zeros > 0).all()
    assert (zeros == 16).any()
