"""A stand-in for FlashAttention 3's `flash_attn_interface`, built on torch SDPA / FlexAttention.

For smoke runs on GPUs without FA3 (anything but Hopper with the wheel, or a CPU).
Scores made with it are NOT comparable with FA3 runs (other kernels, other
numerics); records made with it are marked unofficial (`harness.fa3_shim.SHIM_REASON`).

Conventions kept from FA3 (what the seed PRs rely on):

* layout (batch, seqlen, heads, head_dim); varlen (total_tokens, heads, head_dim)
  with int32 `cu_seqlens_*` offsets;
* grouped KV heads: k/v may have fewer heads than q (heads % kv_heads == 0); they
  are repeated to the query heads (SDPA with a mask plus `enable_gqa` failed under
  torch.compile with "Invalid backend" on the lent H100, GPU_NOTES.md);
* `window_size=(left, right)`: query i sees keys j with i-left <= j <= i+right, -1
  meaning unbounded; with seqlen_q != seqlen_k the causal diagonal is aligned to
  the bottom right, as FA does;
* the return value is the output tensor (every seed PR uses it directly, none
  indexes `[0]`); `return_attn_probs=True` gives `(out, softmax_lse)` with lse of
  shape (batch, heads, seqlen_q) / (heads, total_q).

Masks always run under an explicit `sdpa_kernel([EFFICIENT_ATTENTION, MATH])`:
records restrict SDPA to the flash backend elsewhere, and the flash backend
rejects masks.

Packed varlen batches on a GPU never build a dense tokens x tokens mask. Under
torch.compile (the records compile with fullgraph=True), graphs that need
gradients go through FlexAttention with a block-sparse document + causal + window
mask; forward-only graphs (evaluation under no_grad) go through an opaque custom
op that makes one SDPA call per document, because inductor (torch 2.11, lent
H200) failed to lower FlexAttention there with "convert FlexibleLayout to
FixedLayout first" (the block-mask tensors built in the graph stay unrealized when
nothing saves them for a backward). In eager mode: one SDPA call per document
(right-padding documents of similar length into one call per length bucket was
measured on the lent H200 and was slower at the smoke data's mean document length
of ~715 tokens: 199 vs 87 ms forward + backward for a 98k-token batch). (On CPU
under compile, where FlexAttention has no backward, a dense document mask is used:
CPU smoke batches are small.)
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

__version__ = "0.0.0+pgolf.sdpa.shim"
IS_PGOLF_SHIM = True

_MASKED = [SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
_UNMASKED = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]


def _compiling() -> bool:
    try:
        return bool(torch.compiler.is_compiling())
    except AttributeError:  # pragma: no cover - old torch
        return False


def _known_equal(a: Any, b: Any) -> bool:
    try:
        from torch.fx.experimental.symbolic_shapes import statically_known_true  # noqa: PLC0415
    except ImportError:  # pragma: no cover - old torch
        return bool(a == b)
    return bool(statically_known_true(a == b))


def _check_unsupported(qv: Any, softcap: float, attention_chunk: int) -> None:
    if qv is not None:
        raise NotImplementedError("the FA3 SDPA shim does not support qv= (MLA-style extra query).")
    if attention_chunk:
        raise NotImplementedError("the FA3 SDPA shim does not support attention_chunk.")


def _window(window_size: Any) -> tuple[int, int]:
    left, right = (int(window_size[0]), int(window_size[1])) if window_size is not None else (-1, -1)
    return left, right


def _repeat_kv(x: torch.Tensor, groups: int, head_dim_axis: int) -> torch.Tensor:
    """(..., Hkv, ...) -> (..., Hkv*groups, ...) with kv head h serving query heads h*g..h*g+g-1 (FA's grouping)."""
    return x if groups == 1 else x.repeat_interleave(groups, dim=head_dim_axis)


def _groups(hq: int, hkv: int) -> int:
    if hq % hkv:
        raise ValueError(f"query heads ({hq}) must be a multiple of key/value heads ({hkv}).")
    return hq // hkv


def _band_mask(sq: int, sk: int, causal: bool, left: int, right: int, device: torch.device) -> torch.Tensor | None:
    """Boolean (sq, sk) mask (True = attend), bottom-right aligned like FA; None when nothing is masked."""
    if causal:
        right = 0
    if left < 0 and right < 0:
        return None
    qi = torch.arange(sq, device=device).unsqueeze(1) + (sk - sq)
    kj = torch.arange(sk, device=device).unsqueeze(0)
    m = torch.ones(sq, sk, dtype=torch.bool, device=device)
    if right >= 0:
        m = m & (kj <= qi + right)
    if left >= 0:
        m = m & (kj >= qi - left)
    return m


def _dense(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, scale: float,
           softcap: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Explicit attention in (B, H, S, D) for softcap / lse requests: returns (out, lse)."""
    s = torch.matmul(q.float(), k.float().transpose(-1, -2)) * scale
    if softcap > 0:
        s = softcap * torch.tanh(s / softcap)
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    lse = torch.logsumexp(s, dim=-1)
    p = torch.exp(s - lse.unsqueeze(-1)).nan_to_num(0.0)
    return torch.matmul(p, v.float()).to(q.dtype), lse


def _attend_bhsd(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, left: int, right: int,
                 scale: float, softcap: float, want_lse: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Attention of one (B, H, S, D) block with KV already repeated to the query heads."""
    sq, sk = q.shape[-2], k.shape[-2]
    # sq == sk is a SymBool under dynamic shapes; is_causal needs a real bool. When equality is not
    # statically known the masked path below is used (it is exact either way).
    only_causal = bool(causal) and left < 0 and _known_equal(sq, sk)
    if softcap > 0 or want_lse:
        mask = None if (not causal and left < 0 and right < 0) else _band_mask(sq, sk, causal, left, right, q.device)
        return _dense(q, k, v, mask, scale, softcap)
    if only_causal or (not causal and left < 0 and right < 0):
        with sdpa_kernel(_UNMASKED):
            return F.scaled_dot_product_attention(q, k, v, is_causal=only_causal, scale=scale), None
    mask = _band_mask(sq, sk, causal, left, right, q.device)
    with sdpa_kernel(_MASKED):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale), None


def flash_attn_func(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, softmax_scale: float | None = None,
                    causal: bool = False, qv: Any = None, q_descale: Any = None, k_descale: Any = None,
                    v_descale: Any = None, window_size: tuple[int, int] = (-1, -1), attention_chunk: int = 0,
                    softcap: float = 0.0, num_splits: int = 1, pack_gqa: Any = None, deterministic: bool = False,
                    sm_margin: int = 0, return_attn_probs: bool = False, **_ignored: Any):
    """FA3's fixed-length attention: q (B, Sq, H, D), k/v (B, Sk, Hkv, D) -> out (B, Sq, H, D).

    Performance knobs (num_splits, pack_gqa, deterministic, sm_margin, descales) are
    accepted and ignored: they do not change the math.
    """
    _check_unsupported(qv, softcap, attention_chunk)
    left, right = _window(window_size)
    scale = softmax_scale if softmax_scale is not None else 1.0 / math.sqrt(q.shape[-1])
    g = _groups(q.shape[2], k.shape[2])
    qt = q.transpose(1, 2)
    kt = _repeat_kv(k.transpose(1, 2), g, 1)
    vt = _repeat_kv(v.transpose(1, 2), g, 1)
    out, lse = _attend_bhsd(qt, kt, vt, causal, left, right, scale, softcap, return_attn_probs)
    out = out.transpose(1, 2)
    return (out, lse) if return_attn_probs else out


# ----------------------------------------------------------------------------- varlen

def _doc_ids(cu: torch.Tensor, total: int) -> torch.Tensor:
    """Document index of every packed token (tokens past cu[-1] get index len(cu)-1: padding)."""
    pos = torch.arange(total, device=cu.device, dtype=cu.dtype)
    return torch.searchsorted(cu, pos, right=True) - 1


def _varlen_flex(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu_q: torch.Tensor, cu_k: torch.Tensor,
                 causal: bool, left: int, right: int, scale: float, softcap: float) -> torch.Tensor:
    """Block-sparse FlexAttention over the packed tokens: (T, H, D) -> (T, H, D), never a dense T x T mask."""
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention  # noqa: PLC0415

    tq, tk = q.shape[0], k.shape[0]
    cu_q = cu_q.to(torch.int64)
    cu_k = cu_k.to(torch.int64)
    doc_q = _doc_ids(cu_q, tq)
    doc_k = _doc_ids(cu_k, tk)
    n_docs = cu_q.shape[0] - 1
    # Padding tokens (past the last offset) get their own id so they never see real keys.
    doc_q = torch.where(doc_q >= n_docs, torch.full_like(doc_q, -1), doc_q)
    doc_k = torch.where(doc_k >= n_docs, torch.full_like(doc_k, -2), doc_k)
    start_q = cu_q[doc_q.clamp(min=0)]
    start_k = cu_k[doc_k.clamp(min=0)]
    # bottom-right alignment per document: offset = len_k - len_q
    off = (cu_k[1:] - cu_k[:-1]) - (cu_q[1:] - cu_q[:-1])
    off_q = off[doc_q.clamp(min=0)]
    use_right = 0 if causal else right

    def mask_mod(b, h, qi, kj):
        qpos = qi - start_q[qi] + off_q[qi]
        kpos = kj - start_k[kj]
        m = doc_q[qi] == doc_k[kj]
        if use_right >= 0:
            m = m & (kpos <= qpos + use_right)
        if left >= 0:
            m = m & (kpos >= qpos - left)
        return m

    score_mod = None
    if softcap > 0:
        def score_mod(s, b, h, qi, kj):
            return softcap * torch.tanh(s / softcap)

    bm = create_block_mask(mask_mod, None, None, tq, tk, device=q.device)
    out = flex_attention(q.transpose(0, 1).unsqueeze(0), k.transpose(0, 1).unsqueeze(0),
                         v.transpose(0, 1).unsqueeze(0), score_mod=score_mod, block_mask=bm, scale=scale)
    return out.squeeze(0).transpose(0, 1)


def _varlen_dense(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu_q: torch.Tensor, cu_k: torch.Tensor,
                  causal: bool, left: int, right: int, scale: float, softcap: float) -> torch.Tensor:
    """CPU-under-compile path: one SDPA call with a dense (Tq, Tk) document mask (CPU batches are small)."""
    tq, tk = q.shape[0], k.shape[0]
    cu_q = cu_q.to(torch.int64)
    cu_k = cu_k.to(torch.int64)
    doc_q, doc_k = _doc_ids(cu_q, tq), _doc_ids(cu_k, tk)
    n_docs = cu_q.shape[0] - 1
    doc_q = torch.where(doc_q >= n_docs, torch.full_like(doc_q, -1), doc_q)
    doc_k = torch.where(doc_k >= n_docs, torch.full_like(doc_k, -2), doc_k)
    off = (cu_k[1:] - cu_k[:-1]) - (cu_q[1:] - cu_q[:-1])
    qpos = (torch.arange(tq, device=q.device) - cu_q[doc_q.clamp(min=0)] + off[doc_q.clamp(min=0)]).unsqueeze(1)
    kpos = (torch.arange(tk, device=q.device) - cu_k[doc_k.clamp(min=0)]).unsqueeze(0)
    m = doc_q.unsqueeze(1) == doc_k.unsqueeze(0)
    use_right = 0 if causal else right
    if use_right >= 0:
        m = m & (kpos <= qpos + use_right)
    if left >= 0:
        m = m & (kpos >= qpos - left)
    qt, kt, vt = (x.transpose(0, 1).unsqueeze(0) for x in (q, k, v))
    if softcap > 0:
        out = _dense(qt, kt, vt, m, scale, softcap)[0]
    else:
        # Rows with no allowed key (padding) would be NaN under SDPA; let them see themselves, then zero them.
        empty = ~m.any(dim=1, keepdim=True)
        eye = torch.arange(tq, device=q.device).unsqueeze(1) == torch.arange(tk, device=q.device).unsqueeze(0)
        with sdpa_kernel(_MASKED):
            out = F.scaled_dot_product_attention(qt, kt, vt, attn_mask=m | (empty & eye), scale=scale)
        out = out.masked_fill(empty, 0.0)  # (Tq, 1) broadcasts over (1, H, Tq, D)
    return out.squeeze(0).transpose(0, 1)


def _varlen_loop(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu_q: torch.Tensor, cu_k: torch.Tensor,
                 causal: bool, left: int, right: int, scale: float, softcap: float,
                 want_lse: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Eager path: one attention call per document; memory is per document, not tokens^2."""
    out = torch.zeros_like(q)
    lse = torch.full((q.shape[1], q.shape[0]), float("-inf"), device=q.device) if want_lse else None
    bq, bk = cu_q.tolist(), cu_k.tolist()
    for i in range(len(bq) - 1):
        a, b, c, d = bq[i], bq[i + 1], bk[i], bk[i + 1]
        if b <= a:
            continue
        qd = q[a:b].transpose(0, 1).unsqueeze(0)
        kd = k[c:d].transpose(0, 1).unsqueeze(0)
        vd = v[c:d].transpose(0, 1).unsqueeze(0)
        o, l_ = _attend_bhsd(qd, kd, vd, causal, left, right, scale, softcap, want_lse)
        out[a:b] = o.squeeze(0).transpose(0, 1)
        if want_lse and l_ is not None:
            lse[:, a:b] = l_.squeeze(0)
    return out, lse


@torch.library.custom_op("pgolf_fa3_shim::varlen_per_document", mutates_args=())
def _varlen_opaque(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu_q: torch.Tensor, cu_k: torch.Tensor,
                   causal: bool, left: int, right: int, scale: float, softcap: float) -> torch.Tensor:
    """The per-document loop as one op torch.compile does not look into (forward only: no autograd formula)."""
    return _varlen_loop(q, k, v, cu_q, cu_k, causal, left, right, scale, softcap, False)[0]


@_varlen_opaque.register_fake
def _varlen_opaque_fake(q, k, v, cu_q, cu_k, causal, left, right, scale, softcap):  # noqa: ANN001, ANN202
    return torch.empty_like(q)


def _compiled_varlen_path(is_cuda: bool, needs_grad: bool) -> str:
    """Which implementation a compiled graph uses: 'flex' (GPU, gradients), 'opaque' (GPU, forward
    only: FlexAttention failed to lower in inference graphs) or 'dense' (CPU, small batches)."""
    if not is_cuda:
        return "dense"
    return "flex" if needs_grad else "opaque"


def flash_attn_varlen_func(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu_seqlens_q: torch.Tensor,
                           cu_seqlens_k: torch.Tensor, max_seqlen_q: int | None = None,
                           max_seqlen_k: int | None = None, seqused_q: Any = None, seqused_k: Any = None,
                           softmax_scale: float | None = None, causal: bool = False, qv: Any = None,
                           q_descale: Any = None, k_descale: Any = None, v_descale: Any = None,
                           window_size: tuple[int, int] = (-1, -1), attention_chunk: int = 0,
                           softcap: float = 0.0, num_splits: int = 1, pack_gqa: Any = None,
                           deterministic: bool = False, sm_margin: int = 0, return_attn_probs: bool = False,
                           **_ignored: Any):
    """FA3's packed attention: q (Tq, H, D), k/v (Tk, Hkv, D), documents delimited by
    cu_seqlens (int32, B+1 offsets) -> out (Tq, H, D). Tokens attend only inside their document.

    max_seqlen_* are accepted for compatibility (FA uses them to size its grid; the
    math does not need them). seqused_* (paged KV) is not supported.
    """
    _check_unsupported(qv, softcap, attention_chunk)
    if seqused_q is not None or seqused_k is not None:
        raise NotImplementedError("the FA3 SDPA shim does not support seqused_q/seqused_k.")
    left, right = _window(window_size)
    scale = softmax_scale if softmax_scale is not None else 1.0 / math.sqrt(q.shape[-1])
    g = _groups(q.shape[1], k.shape[1])
    k = _repeat_kv(k, g, 1)
    v = _repeat_kv(v, g, 1)
    if _compiling() and not return_attn_probs:
        needs_grad = torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad)
        path = _compiled_varlen_path(q.is_cuda, needs_grad)
        if path == "flex":
            return _varlen_flex(q, k, v, cu_seqlens_q, cu_seqlens_k, causal, left, right, scale, softcap)
        if path == "opaque":
            return _varlen_opaque(q, k, v, cu_seqlens_q, cu_seqlens_k, causal, left, right, scale, softcap)
        # FlexAttention has no CPU backward; CPU smoke runs are tiny, so a dense document mask is fine there.
        return _varlen_dense(q, k, v, cu_seqlens_q, cu_seqlens_k, causal, left, right, scale, softcap)
    out, lse = _varlen_loop(q, k, v, cu_seqlens_q, cu_seqlens_k, causal, left, right, scale, softcap,
                            return_attn_probs)
    return (out, lse) if return_attn_probs else out


__all__ = ["flash_attn_func", "flash_attn_varlen_func", "IS_PGOLF_SHIM", "__version__"]
