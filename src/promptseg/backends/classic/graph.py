"""Graph algorithms on the superpixel adjacency graph: weights, geodesics, min cut.

All functions take plain arrays: ``n`` nodes, ``edges`` as (E, 2) int pairs
(each undirected edge once) and per-edge float values.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order, connected_components, dijkstra, maximum_flow

__all__ = ["geodesic_distance", "min_cut", "connected_to"]

#: Capacities are scaled to integers with this total (int32 flow, no overflow).
_CAPACITY_BUDGET = 2**28


def symmetric(n: int, edges: np.ndarray, values: np.ndarray) -> sp.csr_matrix:
    """(n, n) CSR matrix with ``values`` at (i, j) and (j, i) for every edge."""
    i, j = edges[:, 0], edges[:, 1]
    return sp.csr_matrix((np.r_[values, values], (np.r_[i, j], np.r_[j, i])), shape=(n, n))


def geodesic_distance(lengths: sp.csr_matrix, sources: np.ndarray, limit: float = np.inf) -> np.ndarray:
    """Shortest-path distance of every node to the nearest of ``sources``.

    Parameters
    ----------
    lengths : scipy.sparse.csr_matrix, shape (n, n)
        Symmetric positive edge lengths.
    sources : np.ndarray, shape (S,), int
        Node ids; empty gives ``inf`` everywhere.
    limit : float
        Paths longer than this are not followed (their nodes get ``inf``).

    Returns
    -------
    np.ndarray, shape (n,), float64
    """
    n = lengths.shape[0]
    sources = np.unique(np.asarray(sources, dtype=np.intp))
    if sources.size == 0:
        return np.full(n, np.inf)
    return dijkstra(lengths, directed=False, indices=sources, min_only=True, limit=limit)


def min_cut(
    edges: np.ndarray,
    pairwise: np.ndarray,
    unary: np.ndarray,
    *,
    hard_fg: np.ndarray | None = None,
    hard_bg: np.ndarray | None = None,
) -> np.ndarray:
    """Binary labelling that minimises unary plus Potts pairwise costs (s-t min cut).

    Energy: ``sum_i [x_i = 0] * max(unary_i, 0) + [x_i = 1] * max(-unary_i, 0)
    + sum_e pairwise_e * [x_i != x_j]``.

    Parameters
    ----------
    edges : np.ndarray, shape (E, 2), int
        Undirected node pairs.
    pairwise : np.ndarray, shape (E,), float, >= 0
        Cost of cutting each edge.
    unary : np.ndarray, shape (n,), float
        Preference for the object: positive favours label 1 by that much.
    hard_fg, hard_bg : np.ndarray of int, optional
        Nodes forced to 1 or 0 (hard_fg wins where both list a node).

    Returns
    -------
    np.ndarray, shape (n,), bool
        True for the object side of the cut.
    """
    n = unary.shape[0]
    u = np.asarray(unary, dtype=np.float64).copy()
    pw = np.asarray(pairwise, dtype=np.float64)
    total = np.abs(u).sum() + 2 * pw.sum() + 1e-12
    scale = _CAPACITY_BUDGET / total
    hard = _CAPACITY_BUDGET
    cap_u = np.minimum(np.round(np.abs(u) * scale), hard).astype(np.int64)
    cap_p = np.round(pw * scale).astype(np.int64)
    src, snk = n, n + 1
    fg = np.flatnonzero(u > 0)
    bg = np.flatnonzero(u < 0)
    rows = [edges[:, 0], edges[:, 1], np.full(fg.size, src), bg]
    cols = [edges[:, 1], edges[:, 0], fg, np.full(bg.size, snk)]
    caps = [cap_p, cap_p, cap_u[fg], cap_u[bg]]
    if hard_bg is not None and len(hard_bg):
        hb = np.unique(np.asarray(hard_bg, dtype=np.intp))
        rows.append(hb), cols.append(np.full(hb.size, snk)), caps.append(np.full(hb.size, hard, np.int64))
    if hard_fg is not None and len(hard_fg):
        hf = np.unique(np.asarray(hard_fg, dtype=np.intp))
        rows.append(np.full(hf.size, src)), cols.append(hf), caps.append(np.full(hf.size, 2 * hard, np.int64))
    graph = sp.csr_matrix(
        (np.concatenate(caps).astype(np.int32), (np.concatenate(rows), np.concatenate(cols))), shape=(n + 2, n + 2)
    )
    graph.sum_duplicates()
    flow = maximum_flow(graph, src, snk, method="dinic").flow
    residual = (graph - flow).tocsr()
    residual.data[residual.data < 0] = 0
    residual.eliminate_zeros()
    reached = breadth_first_order(residual, src, directed=True, return_predecessors=False)
    side = np.zeros(n + 2, bool)
    side[reached] = True
    return side[:n]


def connected_to(n: int, edges: np.ndarray, keep: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The nodes of ``keep`` that are connected, through ``keep``, to a node of ``seeds``.

    Parameters
    ----------
    n : int
        Number of nodes.
    edges : np.ndarray, shape (E, 2), int
    keep : np.ndarray, shape (n,), bool
    seeds : np.ndarray of int

    Returns
    -------
    np.ndarray, shape (n,), bool
    """
    seeds = np.asarray(seeds, dtype=np.intp)
    seeds = seeds[keep[seeds]]
    if seeds.size == 0:
        return np.zeros(n, bool)
    inside = keep[edges[:, 0]] & keep[edges[:, 1]]
    e = edges[inside]
    adj = sp.csr_matrix((np.ones(len(e), np.int8), (e[:, 0], e[:, 1])), shape=(n, n))
    _, comp = connected_components(adj, directed=False)
    return keep & np.isin(comp, np.unique(comp[seeds]))
