"""Paths between codes for interpolation: straight lines and great circles (slerp)."""

from __future__ import annotations

import torch


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Straight lines from each row of a (P, D) to the same row of b at fractions t (S,): (P, S, D)."""
    t = t.to(a.device, torch.float64)[None, :, None]
    out = (1 - t) * a.double()[:, None] + t * b.double()[:, None]
    return out.to(a.dtype)


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985; White 2016 for generative models): (P, D), (P, D),
    fractions t (S,) -> (P, S, D).

        slerp(a, b; t) = sin((1 - t) W) / sin W * a + sin(t W) / sin W * b,  cos W = <a, b> / (|a| |b|)

    It moves along the great circle, at a constant angular speed, so a code drawn from a
    high-dimensional Gaussian (whose norm concentrates near sqrt(D)) stays at a typical norm,
    where a straight line would cut through the improbable region near the origin. With
    |a| = |b| every point keeps that norm; t = 0 and t = 1 give a and b exactly. Nearly
    parallel (or opposite) pairs, where W or sin W vanishes, fall back to the straight line.
    """
    a64, b64 = a.double(), b.double()
    cos = (a64 * b64).sum(-1) / (a64.norm(dim=-1) * b64.norm(dim=-1)).clamp_min(1e-300)
    omega = cos.clamp(-1, 1).acos()[:, None]  # (P, 1)
    t64 = t.to(a.device, torch.float64)[None, :]  # (1, S)
    sin_omega = omega.sin()
    degenerate = sin_omega.abs() < 1e-6
    safe = torch.where(degenerate, torch.ones_like(sin_omega), sin_omega)
    wa = torch.where(degenerate, 1 - t64, torch.sin((1 - t64) * omega) / safe)
    wb = torch.where(degenerate, t64.expand_as(wa), torch.sin(t64 * omega) / safe)
    out = wa[..., None] * a64[:, None] + wb[..., None] * b64[:, None]
    return out.to(a.dtype)


PATHS = {"linear": lerp, "slerp": slerp}
METHODS = tuple(PATHS)
