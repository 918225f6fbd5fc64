"""Merkle tree core of a verifiable log, as in Certificate Transparency (RFC 6962 / RFC 9162 §2.1).

Pure functions and small classes over SHA-256 digests; no I/O. Entries are hashed into leaves
with `leaf_hash`; everything else works on 32-byte leaf hashes:

- `root(leaf_hashes)`: the tree head MTH(D[n]) of a list, computed once;
- `Frontier`: the tree head of a stream, O(log n) memory, for a verifier that replays a log and
  checks the head at each checkpoint size without keeping the leaves;
- `Tree`: every level kept in memory, for a log that exports many inclusion and consistency
  proofs, for its current size or any earlier one;
- `verify_inclusion` / `verify_consistency`: the RFC 9162 §2.1.3.2 / §2.1.4.2 verifiers. They
  answer False to anything they cannot check, never raise.

Domain separation as in the RFC: a leaf is SHA-256(0x00 || entry), an interior node is
SHA-256(0x01 || left || right), so a leaf can never be passed off as a node or the reverse.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256
# A hasher that has already absorbed the node prefix: copying it and feeding the two children is
# the same digest as node_hash, and measurably faster in the Frontier's hot loop (no 65-byte
# concatenation).
_NODE_PREFIXED = hashlib.sha256(b"\x01")


def leaf_hash(entry: bytes) -> bytes:
    """SHA-256(0x00 || entry): the hash of one log entry."""
    return _sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2): where MTH splits D[n]."""
    return 1 << ((n - 1).bit_length() - 1)


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of RFC 9162 §2.1.1 over the given leaf hashes; EMPTY_ROOT for none.

    Computed level by level: pair the nodes left to right and carry an odd last node up
    unchanged. That is the same tree as the RFC's recursive split at the largest power of two
    smaller than n: the left part is always a perfect subtree, so only the right edge is ragged.
    """
    level = list(leaf_hashes)
    if not level:
        return EMPTY_ROOT
    sha = _sha256
    while len(level) > 1:
        paired = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) & 1:
            paired.append(level[-1])
        level = paired
    return level[0]


class Frontier:
    """The tree head of a stream of leaf hashes, keeping only the roots of its perfect subtrees.

    After n appends the stack holds one root per set bit of n, largest (leftmost) subtree first:
    the binary decomposition of D[n] that MTH uses. Appending merges equal-sized subtrees like a
    binary counter carries, so it costs one node hash per leaf on average; `root()` folds the
    stack from the right in O(log n). Leaf hashes are taken as given (32-byte digests): the hot
    loop does no checking.
    """

    __slots__ = ("_stack", "_size")

    def __init__(self) -> None:
        self._stack: list[bytes] = []
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    @property
    def stack(self) -> list[bytes]:
        """The roots of the perfect subtrees, largest first: enough to resume appending later."""
        return list(self._stack)

    @classmethod
    def resume(cls, size: int, stack: Sequence[bytes]) -> Frontier:
        if len(stack) != bin(size).count("1") or any(len(h) != HASH_SIZE for h in stack):
            raise ValueError("a frontier of this size has one 32-byte root per set bit of the size")
        frontier = cls()
        frontier._size, frontier._stack = size, list(stack)
        return frontier

    def append(self, leaf_hash: bytes) -> None:
        stack = self._stack
        n = self._size
        self._size = n + 1
        node = leaf_hash
        # Each trailing 1 bit of n is a subtree of the same size as the one being carried.
        while n & 1:
            h = _NODE_PREFIXED.copy()
            h.update(stack.pop())
            h.update(node)
            node = h.digest()
            n >>= 1
        stack.append(node)

    def root(self) -> bytes:
        """MTH of everything appended so far (EMPTY_ROOT before the first append)."""
        stack = self._stack
        if not stack:
            return EMPTY_ROOT
        node = stack[-1]
        for i in range(len(stack) - 2, -1, -1):
            node = _sha256(b"\x01" + stack[i] + node).digest()
        return node


class Tree:
    """A tree built once over a list of leaf hashes, every level kept, for exporting proofs.

    `levels[k][i]` is the root of the perfect subtree over leaves [i * 2^k, (i + 1) * 2^k); a
    level holds only complete subtrees, so any prefix D[0:size] is answered from the same levels.
    Memory: about two hashes per leaf.
    """

    __slots__ = ("_levels",)

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        leaves = list(leaf_hashes)
        for i, h in enumerate(leaves):
            if not _is_hash(h):
                raise ValueError(f"leaf hash {i} is not {HASH_SIZE} bytes")
        levels = [leaves]
        sha = _sha256
        while len(levels[-1]) > 1:
            below = levels[-1]
            levels.append([sha(b"\x01" + below[i] + below[i + 1]).digest()
                           for i in range(0, len(below) - 1, 2)])
        self._levels = levels

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def _check_size(self, size: int | None) -> int:
        if size is None:
            return self.size
        if not _is_size(size) or size > self.size:
            raise ValueError(f"tree size must be an int in 0..{self.size}, got {size!r}")
        return size

    def _subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for 0 <= start < end <= size, from the stored levels.

        A range of 2^k leaves aligned on 2^k is one stored node; any other range splits as MTH
        does. The ranges the proofs ask for are aligned on their split point, so this is one
        stored node per level of the ragged right edge: O(log n).
        """
        n = end - start
        if n & (n - 1) == 0 and start & (n - 1) == 0:
            k = n.bit_length() - 1
            return self._levels[k][start >> k]
        k = _split(n)
        return node_hash(self._subtree(start, start + k), self._subtree(start + k, end))

    def root(self, size: int | None = None) -> bytes:
        """MTH(D[0:size]); the full tree when size is None, EMPTY_ROOT for size 0."""
        size = self._check_size(size)
        return self._subtree(0, size) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, the leaf's sibling first.

        Walks down from the root: at each split, the subtree not containing the leaf goes into the
        proof. The RFC appends siblings on the way back up, hence the final reversal.
        """
        size = self._check_size(size)
        if not _is_size(index) or index >= size:
            raise ValueError(f"leaf index must be an int in 0..{size - 1}, got {index!r}")
        path: list[bytes] = []
        start, end = 0, size
        while end - start > 1:
            mid = start + _split(end - start)
            if index < mid:
                path.append(self._subtree(mid, end))
                end = mid
            else:
                path.append(self._subtree(start, mid))
                start = mid
        path.reverse()
        return path

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[0:new_size]) of RFC 9162 §2.1.4.1, deepest node first.

        Empty when old_size == new_size. old_size 0 is refused: there is nothing to be consistent
        with, and the verifier does not accept such a proof.

        SUBPROOF(m, D[start:end], b) walks down towards the old tree's right edge (absolute
        position old_size): if the old tree fits in the left part, the right part goes into the
        proof; otherwise the left part does and the old tree is no longer a complete subtree on
        its own (b becomes false). The walk stops at the node whose range ends at old_size; that
        node's hash is needed too unless it is the old root itself (b still true).
        """
        new_size = self._check_size(new_size)
        if not _is_size(old_size) or not 0 < old_size <= new_size:
            raise ValueError(f"old size must be an int in 1..{new_size}, got {old_size!r}")
        proof: list[bytes] = []
        start, end = 0, new_size
        whole_old_tree = True
        while end != old_size:
            mid = start + _split(end - start)
            if old_size <= mid:
                proof.append(self._subtree(mid, end))
                end = mid
            else:
                proof.append(self._subtree(start, mid))
                start = mid
                whole_old_tree = False
        if not whole_old_tree:
            proof.append(self._subtree(start, end))
        proof.reverse()
        return proof


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does `proof` show leaf `index` of a tree of `size` leaves is `leaf_hash`
    under the head `root`? False for any malformed input."""
    try:
        if not (_is_hash(leaf_hash) and _is_hash(root) and _is_size(index) and _is_size(size)):
            return False
        if index >= size or isinstance(proof, (bytes, str)):
            return False
        proof = list(proof)
        if not all(_is_hash(p) for p in proof):
            return False
    except TypeError:  # proof not iterable
        return False
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:  # proof longer than the path to the root
            return False
        if fn & 1 or fn == sn:
            # We are a right child, or the last node of a ragged level (carried up unchanged
            # until it becomes a right child).
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: does `proof` show the tree of `new_size` leaves under `new_root` extends
    the tree of `old_size` leaves under `old_root`? False for any malformed input.

    old_size == new_size holds with an empty proof and equal roots. old_size 0 is never accepted:
    the empty tree has no head worth proving against, and accepting it would let any proof pass.
    """
    try:
        if not (_is_hash(old_root) and _is_hash(new_root) and _is_size(old_size) and _is_size(new_size)):
            return False
        if old_size == 0 or old_size > new_size or isinstance(proof, (bytes, str)):
            return False
        proof = list(proof)
        if not all(_is_hash(p) for p in proof):
            return False
    except TypeError:  # proof not iterable
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    if old_size & (old_size - 1) == 0:
        # The old tree is a complete subtree of the new one: its root is the start of the path
        # and the proof leaves it out.
        proof = [old_root, *proof]
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            # c is a left sibling: it belongs to both trees.
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            # c is a right sibling: only in the new tree.
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0
