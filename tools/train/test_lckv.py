"""Unit tests: iteration plan, and iterative parallel forward == token-by-token forward.
usage: python3 test_lckv.py"""
import torch

from model import Config, LCKVLlama, iteration_plan


def tiny(layer_types, m=2, b=1):
    n = len(layer_types.split("_"))
    cfg = Config(vocab_size=50, hidden_size=32, intermediate_size=48, num_hidden_layers=n,
                 num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                 layer_types=layer_types, forward_passes=m, backward_passes=b)
    torch.manual_seed(0)
    model = LCKVLlama(cfg)
    with torch.no_grad():  # larger weights so that mistakes are visible
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.3)
    return model.double().eval()  # float64: iterating passes amplifies rounding


def test_plan():
    assert iteration_plan([0, 6, 6, 6, 6, 6, 6, 7]) == [("plain", 0, 0), ("cyclic", 1, 6), ("plain", 7, 7)]
    assert iteration_plan([0, 1, 2, 3]) == [("plain", 0, 3)]
    assert iteration_plan([0, 2, 2, 4, 4, 5]) == [("plain", 0, 0), ("cyclic", 1, 2), ("cyclic", 3, 4), ("plain", 5, 5)]
    # a layer inside the group points higher: the group grows
    assert iteration_plan([0, 2, 4, 3, 4, 5]) == [("plain", 0, 0), ("cyclic", 1, 4), ("plain", 5, 5)]
    assert iteration_plan([3, 3, 3, 3]) == [("cyclic", 0, 3)]


def test_equivalence():
    T = 9
    ids = torch.randint(0, 50, (2, T), generator=torch.Generator().manual_seed(1))
    for lt in ["0_6_6_6_6_6_6_7", "0_1_2_3", "0_2_2_4_4_5", "0_2_4_3_4_5", "3_3_3_3", "0_0_3_3_1"]:
        model = tiny(lt)
        with torch.no_grad():
            seq = model.forward_sequential(ids)
            full = model(ids, passes=T)
            assert torch.allclose(full, seq, atol=1e-8), (lt, (full - seq).abs().max())
            if any(model.u[i] > i for i in range(len(model.u))):
                for k in range(1, T):  # pass k makes positions < k exact
                    part = model(ids, passes=k)
                    assert torch.allclose(part[:, :k], seq[:, :k], atol=1e-8), (lt, k)
                assert not torch.allclose(model(ids, passes=2), seq, atol=1e-3), lt
        print("equivalence ok:", lt)


def test_no_kv_params_and_grads():
    model = tiny("0_6_6_6_6_6_6_7", m=2, b=2).train()
    names = {n for n, _ in model.named_parameters()}
    for i in range(8):
        has = f"model.layers.{i}.self_attn.k_proj.weight" in names
        assert has == (i in (0, 6, 7)), i
    ids = torch.randint(0, 50, (2, 7))
    logits = model(ids)
    torch.nn.functional.cross_entropy(logits.flatten(0, 1), ids.flatten()).backward()
    for n, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, n
    print("grads ok")


def test_first_position_zero_attention():
    model = tiny("1_1")
    ids = torch.tensor([[3, 4, 5]])
    with torch.no_grad():
        a = model(ids, passes=3)[:, 0]
        b = model(torch.tensor([[3, 9, 9]]), passes=3)[:, 0]
    assert torch.isfinite(a).all() and torch.allclose(a, b)


if __name__ == "__main__":
    test_plan()
    test_equivalence()
    test_no_kv_params_and_grads()
    test_first_position_zero_attention()
    print("all tests passed")
