"""The Merkle tree core agrees with RFC 9162 §2.1: tree heads, inclusion and consistency proofs.

The reference functions below are written straight from the RFC's recursive definitions (MTH,
PATH, PROOF/SUBPROOF), slow and obviously right; `kit.merkle` must agree with them, and its
verifiers must accept every honest proof and refuse every altered one.
"""

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kit.merkle import (EMPTY_ROOT, Frontier, Tree, leaf_hash, node_hash, root, verify_consistency,
                        verify_inclusion)


# --- reference implementation, from the RFC text ---------------------------------------------

def ref_split(n):
    """The largest power of two smaller than n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d):
    """MTH: the empty hash, a leaf hash, or the node over the split at the largest power of two."""
    if len(d) == 0:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = ref_split(len(d))
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m, d):
    """PATH(m, D[n]): the audit path of leaf m, leaf's sibling first."""
    if len(d) == 1:
        return []
    k = ref_split(len(d))
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m, d, b):
    """SUBPROOF(m, D[n], b)."""
    if m == len(d):
        return [] if b else [ref_mth(d)]
    k = ref_split(len(d))
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


def ref_proof(m, d):
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true)."""
    return ref_subproof(m, d, True)


def leaves(n, seed=b""):
    return [leaf_hash(seed + i.to_bytes(4, "big")) for i in range(n)]


def flip(h):
    """The same hash with its first bit flipped."""
    return bytes([h[0] ^ 1]) + h[1:]


# --- hashing and tree heads ----------------------------------------------------------------------

def test_given_an_entry_when_hashed_as_leaf_or_node_then_the_rfc_prefixes_separate_them():
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()
    assert node_hash(a, b) != node_hash(b, a)
    assert leaf_hash(a + b) != node_hash(a, b)
    assert EMPTY_ROOT == hashlib.sha256(b"").digest()


def test_given_small_trees_when_the_head_is_computed_then_it_matches_the_tree_drawn_by_hand():
    d = leaves(7)
    a, b, c, e, f, g, h = d  # leaves 0..6
    by_hand = {
        0: EMPTY_ROOT,
        1: a,
        2: node_hash(a, b),
        3: node_hash(node_hash(a, b), c),
        5: node_hash(node_hash(node_hash(a, b), node_hash(c, e)), f),
        7: node_hash(node_hash(node_hash(a, b), node_hash(c, e)), node_hash(node_hash(f, g), h)),
    }
    tree = Tree(d)
    for n, expected in by_hand.items():
        frontier = Frontier()
        for x in d[:n]:
            frontier.append(x)
        assert ref_mth(d[:n]) == expected
        assert root(d[:n]) == expected
        assert frontier.root() == expected and frontier.size == n
        assert tree.root(n) == expected
        assert Tree(d[:n]).root() == expected and Tree(d[:n]).size == n


def test_given_the_rfc_6962_seven_leaf_example_when_proofs_are_made_then_they_are_the_ones_listed():
    # RFC 6962 §2.1.3: leaves d0..d6 under a..f and d6; g = (a,b), h = (c,d), i = (e,f), j = d6,
    # k = (g,h), l = (i,j).
    d = leaves(7)
    a, b, c, dd, e, f, j = d
    g, h, i = node_hash(a, b), node_hash(c, dd), node_hash(e, f)
    k, l = node_hash(g, h), node_hash(i, j)
    tree = Tree(d)
    assert tree.root() == node_hash(k, l)
    assert tree.inclusion_proof(0) == [b, h, l]
    assert tree.inclusion_proof(3) == [c, g, l]
    assert tree.inclusion_proof(4) == [f, j, k]
    assert tree.inclusion_proof(6) == [i, k]
    assert tree.consistency_proof(3) == [c, dd, g, l]  # hash0 = (g, c)
    assert tree.consistency_proof(4) == [l]  # hash1 = k
    assert tree.consistency_proof(6) == [i, j, k]  # hash2 = (k, i)


def test_given_trees_up_to_33_leaves_when_proofs_are_made_for_every_size_then_they_equal_the_rfc_recursion():
    d = leaves(33)
    tree = Tree(d)
    for n in range(1, 34):
        assert tree.root(n) == ref_mth(d[:n]) == root(d[:n])
        for m in range(n):
            assert tree.inclusion_proof(m, n) == ref_path(m, d[:n])
        for m in range(1, n + 1):
            assert tree.consistency_proof(m, n) == ref_proof(m, d[:n])


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 300), seed=st.binary(min_size=4, max_size=4))
def test_given_a_stream_of_leaves_when_appended_to_a_frontier_then_every_prefix_head_equals_root(n, seed):
    d = leaves(n, seed)
    tree = Tree(d)
    frontier = Frontier()
    assert frontier.root() == EMPTY_ROOT and frontier.size == 0
    for size, x in enumerate(d, start=1):
        frontier.append(x)
        assert frontier.size == size
        assert frontier.root() == root(d[:size]) == tree.root(size)
    assert frontier.root() == ref_mth(d)


# --- inclusion proofs ----------------------------------------------------------------------------

@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 64), seed=st.binary(min_size=4, max_size=4))
def test_given_a_tree_when_every_inclusion_proof_for_every_size_is_checked_then_all_verify(n, seed):
    d = leaves(n, seed)
    tree = Tree(d)
    for size in range(1, n + 1):
        head = tree.root(size)
        for index in range(size):
            assert verify_inclusion(d[index], index, size, tree.inclusion_proof(index, size), head)


def assert_inclusion_refused_when_altered(d, tree, index, size):
    head = tree.root(size)
    proof = tree.inclusion_proof(index, size)
    assert verify_inclusion(d[index], index, size, proof, head)
    assert not verify_inclusion(flip(d[index]), index, size, proof, head)
    assert not verify_inclusion(d[index], index, size, proof, flip(head))
    for other in range(size):
        if other != index:
            assert not verify_inclusion(d[index], other, size, proof, head)
    for i in range(len(proof)):
        assert not verify_inclusion(d[index], index, size, [*proof[:i], flip(proof[i]), *proof[i + 1:]], head)
    assert not verify_inclusion(d[index], index, size, proof[:-1], head) or not proof
    assert not verify_inclusion(d[index], index, size, [*proof, head], head)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), n=st.integers(1, 300), seed=st.binary(min_size=4, max_size=4))
def test_given_an_inclusion_proof_when_leaf_index_root_or_any_element_changes_then_it_fails(data, n, seed):
    d = leaves(n, seed)
    tree = Tree(d)
    size = data.draw(st.integers(1, n), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    assert_inclusion_refused_when_altered(d, tree, index, size)


def test_given_small_trees_when_any_inclusion_proof_is_altered_then_it_fails_for_every_index_and_size():
    d = leaves(17)
    tree = Tree(d)
    for size in range(1, 18):
        for index in range(size):
            assert_inclusion_refused_when_altered(d, tree, index, size)


def test_given_a_one_leaf_tree_when_checked_then_the_leaf_is_the_root_and_the_proof_is_empty():
    (x,) = leaves(1)
    assert Tree([x]).inclusion_proof(0) == []
    assert verify_inclusion(x, 0, 1, [], x)
    assert not verify_inclusion(x, 0, 1, [x], node_hash(x, x))


def test_given_an_index_past_the_end_when_the_proof_hashes_to_the_root_then_it_still_fails():
    x, y = leaves(2)
    # Followed blindly, the algorithm would accept "x is leaf 2 of a 2-leaf tree" here.
    assert not verify_inclusion(x, 2, 2, [y], node_hash(x, y))
    assert not verify_inclusion(x, 3, 2, [y], node_hash(x, y))


@pytest.mark.parametrize("args", [
    ("leaf", 0, 4, "proof", "root"),  # wrong types throughout
    (b"\x00" * 31, 0, 1, [], b"\x00" * 31),  # short hashes
    ("H", -1, 4, [], "H"),  # negative index
    ("H", 4, 4, [], "H"),  # index past the end
    ("H", 0, 0, [], "H"),  # empty tree
    ("H", True, 4, [], "H"),  # bool is not an index
    ("H", 0, 4, None, "H"),  # proof not iterable
    ("H", 0, 4, b"\x00" * 64, "H"),  # proof as one bytes blob
    ("H", 0, 4, [b"\x00" * 33], "H"),  # proof element of the wrong size
    ("H", 0, 4, ["x" * 32], "H"),  # proof element not bytes
])
def test_given_malformed_inclusion_input_when_verified_then_it_is_false_not_an_exception(args):
    h = leaf_hash(b"x")
    args = tuple(h if a == "H" else a for a in args)
    assert verify_inclusion(*args) is False


# --- consistency proofs --------------------------------------------------------------------------

@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 48), seed=st.binary(min_size=4, max_size=4))
def test_given_a_tree_when_every_consistency_proof_between_sizes_is_checked_then_all_verify(n, seed):
    d = leaves(n, seed)
    tree = Tree(d)
    heads = [tree.root(size) for size in range(n + 1)]
    for new in range(1, n + 1):
        for old in range(1, new + 1):
            assert verify_consistency(old, new, heads[old], heads[new], tree.consistency_proof(old, new))


def assert_consistency_refused_when_altered(tree, old, new):
    old_root, new_root = tree.root(old), tree.root(new)
    proof = tree.consistency_proof(old, new)
    assert verify_consistency(old, new, old_root, new_root, proof)
    assert not verify_consistency(old, new, flip(old_root), new_root, proof)
    assert not verify_consistency(old, new, old_root, flip(new_root), proof)
    for i in range(len(proof)):
        assert not verify_consistency(old, new, old_root, new_root, [*proof[:i], flip(proof[i]), *proof[i + 1:]])
    if proof:
        assert not verify_consistency(old, new, old_root, new_root, proof[:-1])
    assert not verify_consistency(old, new, old_root, new_root, [*proof, new_root])
    assert not verify_consistency(0, new, old_root, new_root, proof)
    # The same proof does not vouch for other sizes with these heads.
    for other_old in range(1, new + 1):
        if other_old != old and tree.root(other_old) != old_root:
            assert not verify_consistency(other_old, new, old_root, new_root, proof)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), n=st.integers(1, 300), seed=st.binary(min_size=4, max_size=4))
def test_given_a_consistency_proof_when_either_root_or_any_element_changes_then_it_fails(data, n, seed):
    tree = Tree(leaves(n, seed))
    new = data.draw(st.integers(1, n), label="new")
    old = data.draw(st.integers(1, new), label="old")
    assert_consistency_refused_when_altered(tree, old, new)


def test_given_small_trees_when_any_consistency_proof_is_altered_then_it_fails_for_every_pair_of_sizes():
    tree = Tree(leaves(17))
    for new in range(1, 18):
        for old in range(1, new + 1):
            assert_consistency_refused_when_altered(tree, old, new)


def test_given_equal_sizes_when_consistency_is_proved_then_the_proof_is_empty_and_only_equal_roots_pass():
    tree = Tree(leaves(5))
    head = tree.root()
    assert tree.consistency_proof(5) == tree.consistency_proof(5, 5) == []
    assert verify_consistency(5, 5, head, head, [])
    assert not verify_consistency(5, 5, head, flip(head), [])
    assert not verify_consistency(5, 5, head, head, [head])


def test_given_an_empty_old_tree_when_consistency_is_asked_then_it_is_not_provable():
    tree = Tree(leaves(5))
    with pytest.raises(ValueError):
        tree.consistency_proof(0, 5)
    assert not verify_consistency(0, 5, EMPTY_ROOT, tree.root(), [])
    assert not verify_consistency(0, 5, EMPTY_ROOT, tree.root(), [tree.root()])
    assert not verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])


@pytest.mark.parametrize("args", [
    (3, 2, "O", "N", ["P"]),  # old larger than new
    (-1, 4, "O", "N", ["P"]),  # negative size
    (1.0, 4, "O", "N", ["P"]),  # float size
    (1, 4, b"short", "N", ["P"]),  # short root
    (1, 4, "O", None, ["P"]),  # missing root
    (1, 4, "O", "N", None),  # proof not iterable
    (1, 4, "O", "N", b"\x00" * 32),  # proof as one bytes blob
    (1, 4, "O", "N", ["P", b"\x00"]),  # short proof element
    (1, 4, "O", "N", []),  # empty proof for different sizes
])
def test_given_malformed_consistency_input_when_verified_then_it_is_false_not_an_exception(args):
    h = leaf_hash(b"x")
    args = tuple(h if isinstance(a, str) else [h if p == "P" else p for p in a] if isinstance(a, list) else a
                 for a in args)
    assert verify_consistency(*args) is False


# --- tree construction and bounds ----------------------------------------------------------------

def test_given_bad_arguments_when_a_tree_is_asked_for_proofs_then_it_raises_value_error():
    tree = Tree(leaves(4))
    for call in (lambda: tree.root(5), lambda: tree.root(-1), lambda: tree.inclusion_proof(4),
                 lambda: tree.inclusion_proof(2, 2), lambda: tree.inclusion_proof(-1),
                 lambda: tree.consistency_proof(3, 2), lambda: tree.consistency_proof(1, 5),
                 lambda: Tree([b"short"]), lambda: Tree(["x" * 32])):
        with pytest.raises(ValueError):
            call()
    empty = Tree([])
    assert empty.size == 0 and empty.root() == EMPTY_ROOT
    with pytest.raises(ValueError):
        empty.inclusion_proof(0)


def test_a_frontier_resumed_from_its_stack_continues_to_the_same_heads():
    from kit.merkle import Frontier, leaf_hash, root

    leaves = [leaf_hash(bytes([i])) for i in range(100)]
    first = Frontier()
    for h in leaves[:37]:
        first.append(h)
    resumed = Frontier.resume(first.size, first.stack)
    for h in leaves[37:]:
        resumed.append(h)
    assert resumed.root() == root(leaves)
    with pytest.raises(ValueError):
        Frontier.resume(37, first.stack[:-1])
