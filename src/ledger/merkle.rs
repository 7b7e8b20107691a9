//! RFC 6962 / RFC 9162 Merkle tree hashing, inclusion and consistency proofs, and their
//! verification. The leaves of the ledger's tree are the 32 raw bytes of each record's hash, in
//! seq order (see `docs/ledger.md`).
//!
//! Proof generation works over any [`Subtrees`] source: the stored tree of [`super::tree`]
//! answers in O(log n) lookups; [`Leaves`] (all leaf hashes in memory) is the plain reference.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 ‖ data)`: the hash of a leaf.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`: the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree, `SHA-256()`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two strictly less than `n` (n ≥ 2).
pub fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// Something that knows `MTH(D[start:end])` for the ranges RFC 6962's recursion asks for.
pub trait Subtrees {
    /// The Merkle tree hash of leaves `start..end` (`start < end`).
    fn range(&self, start: u64, end: u64) -> anyhow::Result<Hash>;
}

/// The root of the first `n` leaves.
pub fn root(src: &impl Subtrees, n: u64) -> anyhow::Result<Hash> {
    if n == 0 {
        Ok(empty_root())
    } else {
        src.range(0, n)
    }
}

/// The audit path of leaf `m` in the tree of the first `n` leaves (RFC 6962 §2.1.1), leaf side
/// first.
pub fn inclusion_proof(src: &impl Subtrees, m: u64, n: u64) -> anyhow::Result<Vec<Hash>> {
    anyhow::ensure!(m < n, "leaf {m} is not in a tree of {n} leaves");
    let mut proof = Vec::new();
    path(src, m, 0, n, &mut proof)?;
    Ok(proof)
}

fn path(src: &impl Subtrees, m: u64, lo: u64, hi: u64, out: &mut Vec<Hash>) -> anyhow::Result<()> {
    let n = hi - lo;
    if n <= 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path(src, m, lo, lo + k, out)?;
        out.push(src.range(lo + k, hi)?);
    } else {
        path(src, m - k, lo + k, hi, out)?;
        out.push(src.range(lo, lo + k)?);
    }
    Ok(())
}

/// The consistency proof from the tree of `m` leaves to the tree of `n` leaves (RFC 6962 §2.1.2);
/// empty when `m` is 0 or equal to `n`.
pub fn consistency_proof(src: &impl Subtrees, m: u64, n: u64) -> anyhow::Result<Vec<Hash>> {
    anyhow::ensure!(
        m <= n,
        "cannot prove {m} leaves consistent with a smaller tree of {n}"
    );
    let mut proof = Vec::new();
    if m > 0 && m < n {
        subproof(src, m, 0, n, true, &mut proof)?;
    }
    Ok(proof)
}

fn subproof(
    src: &impl Subtrees,
    m: u64,
    lo: u64,
    hi: u64,
    whole: bool,
    out: &mut Vec<Hash>,
) -> anyhow::Result<()> {
    let n = hi - lo;
    if m == n {
        if !whole {
            out.push(src.range(lo, hi)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(src, m, lo, lo + k, whole, out)?;
        out.push(src.range(lo + k, hi)?);
    } else {
        subproof(src, m - k, lo + k, hi, false, out)?;
        out.push(src.range(lo, lo + k)?);
    }
    Ok(())
}

/// Checks an inclusion proof (RFC 9162 §2.1.3.2): `leaf` is the *leaf hash* of entry `m` in a
/// tree of `n` entries whose root is `root`.
pub fn verify_inclusion(leaf: &Hash, m: u64, n: u64, proof: &[Hash], root: &Hash) -> bool {
    if m >= n {
        return false;
    }
    let (mut fnn, mut sn) = (m, n - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fnn & 1 == 1 || fnn == sn {
            r = node_hash(p, &r);
            while fnn & 1 == 0 && fnn != 0 {
                fnn >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnn >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// Checks a consistency proof (RFC 9162 §2.1.4.2) between the tree of `m` entries with root
/// `old` and the tree of `n` entries with root `new`.
pub fn verify_consistency(m: u64, n: u64, old: &Hash, new: &Hash, proof: &[Hash]) -> bool {
    if m > n {
        return false;
    }
    if m == n {
        return proof.is_empty() && old == new;
    }
    if m == 0 {
        return proof.is_empty();
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if m.is_power_of_two() {
        path.push(*old);
    }
    path.extend_from_slice(proof);
    let (mut fnn, mut sn) = (m - 1, n - 1);
    while fnn & 1 == 1 {
        fnn >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return false;
        }
        if fnn & 1 == 1 || fnn == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnn & 1 == 0 && fnn != 0 {
                fnn >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnn >>= 1;
        sn >>= 1;
    }
    fr == *old && sr == *new && sn == 0
}

/// All leaf hashes in memory: the plain recursive definition, for small trees and tests.
pub struct Leaves(pub Vec<Hash>);

impl Subtrees for Leaves {
    fn range(&self, start: u64, end: u64) -> anyhow::Result<Hash> {
        anyhow::ensure!(
            start < end && end <= self.0.len() as u64,
            "range {start}..{end} is outside the {} leaves",
            self.0.len()
        );
        if end - start == 1 {
            return Ok(self.0[start as usize]);
        }
        let k = split(end - start);
        Ok(node_hash(
            &self.range(start, start + k)?,
            &self.range(start + k, end)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The leaf inputs of the RFC 6962 reference test vectors (Certificate Transparency).
    fn vectors() -> Leaves {
        let inputs: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x10",
            b"\x20\x21",
            b"\x30\x31",
            b"\x40\x41\x42\x43",
            b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
        ];
        Leaves(inputs.iter().map(|d| leaf_hash(d)).collect())
    }

    fn h(s: &str) -> Hash {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    #[test]
    fn roots_match_the_reference_vectors() {
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let v = vectors();
        assert_eq!(
            hex::encode(root(&v, 0).unwrap()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        for (i, r) in roots.iter().enumerate() {
            assert_eq!(
                hex::encode(root(&v, i as u64 + 1).unwrap()),
                *r,
                "size {}",
                i + 1
            );
        }
    }

    #[test]
    fn proofs_match_the_reference_vectors() {
        let v = vectors();
        let p = inclusion_proof(&v, 0, 8).unwrap();
        assert_eq!(
            p,
            vec![
                h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            ]
        );
        assert_eq!(consistency_proof(&v, 1, 8).unwrap(), p);
        assert_eq!(
            consistency_proof(&v, 6, 8).unwrap(),
            vec![
                h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ]
        );
        assert_eq!(
            consistency_proof(&v, 2, 5).unwrap(),
            vec![
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            ]
        );
    }

    #[test]
    fn every_proof_of_every_small_tree_verifies_and_a_changed_one_fails() {
        let leaves = Leaves((0..40u8).map(|i| leaf_hash(&[i])).collect());
        for n in 1..=40u64 {
            let r = root(&leaves, n).unwrap();
            for m in 0..n {
                let p = inclusion_proof(&leaves, m, n).unwrap();
                assert!(verify_inclusion(&leaves.0[m as usize], m, n, &p, &r));
                assert!(!verify_inclusion(
                    &leaves.0[(m as usize + 1) % 40],
                    m,
                    n,
                    &p,
                    &r
                ));
                if let Some(first) = p.first() {
                    let mut bad = p.clone();
                    bad[0] = node_hash(first, first);
                    assert!(!verify_inclusion(&leaves.0[m as usize], m, n, &bad, &r));
                }
            }
            for m in 0..=n {
                let old = root(&leaves, m).unwrap();
                let p = consistency_proof(&leaves, m, n).unwrap();
                assert!(verify_consistency(m, n, &old, &r, &p), "{m} -> {n}");
                if m > 0 && m < n {
                    let forged = node_hash(&old, &old);
                    assert!(!verify_consistency(m, n, &forged, &r, &p), "{m} -> {n}");
                    assert!(!verify_consistency(m, n, &old, &r, &p[1..]), "{m} -> {n}");
                }
            }
        }
    }

    #[test]
    fn a_rewritten_prefix_has_no_consistency_proof() {
        let a = Leaves((0..10u8).map(|i| leaf_hash(&[i])).collect());
        let mut b = Leaves(a.0.clone());
        b.0[3] = leaf_hash(b"rewritten");
        let old = root(&a, 6).unwrap();
        let new = root(&b, 10).unwrap();
        let p = consistency_proof(&b, 6, 10).unwrap();
        assert!(!verify_consistency(6, 10, &old, &new, &p));
    }
}
