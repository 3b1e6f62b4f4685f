//! Joining fragments into speakers: union-find for the links the segmentation made, and
//! agglomerative clustering of voice embeddings for the rest.

/// Disjoint sets over `0..n`.
pub struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    /// `n` singleton sets.
    pub fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n).collect(),
        }
    }

    /// The representative of `x`'s set (compressing the path).
    pub fn find(&mut self, x: usize) -> usize {
        let r = self.find_const(x);
        let mut y = x;
        while self.parent[y] != r {
            let next = self.parent[y];
            self.parent[y] = r;
            y = next;
        }
        r
    }

    /// The representative of `x`'s set, without changing anything.
    pub fn find_const(&self, mut x: usize) -> usize {
        while self.parent[x] != x {
            x = self.parent[x];
        }
        x
    }

    /// Join the sets of `a` and `b` (the smaller index represents).
    pub fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        let (lo, hi) = (a.min(b), a.max(b));
        self.parent[hi] = lo;
    }
}

/// The one-to-one pairing of rows and columns with the largest total (3 x 3: all 6 tried).
pub fn best_matching(m: &[[f32; 3]; 3]) -> [(usize, usize); 3] {
    const PERMS: [[usize; 3]; 6] = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    let score = |p: &[usize; 3]| (0..3).map(|i| m[i][p[i]]).sum::<f32>();
    let best = PERMS
        .iter()
        .max_by(|a, b| score(a).total_cmp(&score(b)))
        .copied()
        .unwrap_or([0, 1, 2]);
    [(0, best[0]), (1, best[1]), (2, best[2])]
}

/// Cosine similarity of two vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb).max(1e-12)
}

/// Fragments with at least this much clean speech (in 16.875 ms frames, ~1 s) decide the
/// speakers; shorter ones join the nearest.
const RELIABLE: f32 = 60.0;

/// Cluster `(embedding, weight)` per fragment into at most `max` speakers, merging further while
/// two clusters are more alike than `same_voice`. Fragments without an embedding get `None`.
pub fn cluster(
    items: &[Option<(Vec<f32>, f32)>],
    max: usize,
    same_voice: f32,
) -> Vec<Option<usize>> {
    let reliable: Vec<usize> = {
        let r: Vec<usize> = (0..items.len())
            .filter(|&i| items[i].as_ref().is_some_and(|(_, w)| *w >= RELIABLE))
            .collect();
        if r.is_empty() {
            (0..items.len()).filter(|&i| items[i].is_some()).collect()
        } else {
            r
        }
    };
    // Clusters as weighted sums of unit embeddings (the centroid's direction).
    let mut clusters: Vec<(Vec<f32>, Vec<usize>)> = reliable
        .iter()
        .filter_map(|&i| {
            let (e, w) = items[i].as_ref()?;
            Some((e.iter().map(|x| x * w).collect(), vec![i]))
        })
        .collect();
    loop {
        if clusters.len() <= 1 {
            break;
        }
        let mut best = (f32::MIN, 0, 0);
        for a in 0..clusters.len() {
            for b in a + 1..clusters.len() {
                let s = cosine(&clusters[a].0, &clusters[b].0);
                if s > best.0 {
                    best = (s, a, b);
                }
            }
        }
        if clusters.len() <= max && best.0 < same_voice {
            break;
        }
        let (_, a, b) = best;
        let (vb, mb) = clusters.remove(b);
        for (x, y) in clusters[a].0.iter_mut().zip(vb) {
            *x += y;
        }
        clusters[a].1.extend(mb);
    }
    let mut labels = vec![None; items.len()];
    for (c, (_, members)) in clusters.iter().enumerate() {
        for &m in members {
            labels[m] = Some(c);
        }
    }
    for (i, item) in items.iter().enumerate() {
        if labels[i].is_some() {
            continue;
        }
        if let Some((e, _)) = item {
            labels[i] = clusters
                .iter()
                .enumerate()
                .max_by(|a, b| cosine(e, &a.1.0).total_cmp(&cosine(e, &b.1.0)))
                .map(|(c, _)| c);
        }
    }
    labels
}

/// Each speaker's unit-length mean embedding.
pub fn centroids(
    items: &[Option<(Vec<f32>, f32)>],
    labels: &[Option<usize>],
    speakers: usize,
) -> Vec<Vec<f32>> {
    let mut out = vec![Vec::new(); speakers];
    for (item, label) in items.iter().zip(labels) {
        if let (Some((e, w)), Some(s)) = (item, label) {
            let c = &mut out[*s];
            if c.is_empty() {
                c.resize(e.len(), 0.0);
            }
            for (x, y) in c.iter_mut().zip(e) {
                *x += y * w;
            }
        }
    }
    for c in &mut out {
        let n = c.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        c.iter_mut().for_each(|x| *x /= n);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_prefers_the_diagonal_it_is_given() {
        let m = [[0.0, 9.0, 0.0], [0.0, 0.0, 5.0], [1.0, 0.0, 0.0]];
        assert_eq!(best_matching(&m), [(0, 1), (1, 2), (2, 0)]);
    }

    #[test]
    fn two_voices_make_two_clusters_and_one_voice_one() {
        let v = |a: f32, b: f32| Some((vec![a, b, 0.1], 100.0));
        let items = vec![v(1.0, 0.0), v(0.0, 1.0), v(0.9, 0.1), v(0.1, 0.9), None];
        let l = cluster(&items, 2, 0.7);
        assert_eq!(l[0], l[2]);
        assert_eq!(l[1], l[3]);
        assert_ne!(l[0], l[1]);
        assert_eq!(l[4], None);
        let same = vec![v(1.0, 0.0), v(0.95, 0.05)];
        let l = cluster(&same, 2, 0.7);
        assert_eq!(l[0], l[1]);
    }

    #[test]
    fn union_find_joins_transitively() {
        let mut u = UnionFind::new(5);
        u.union(3, 4);
        u.union(4, 1);
        assert_eq!(u.find(3), u.find(1));
        assert_ne!(u.find(0), u.find(1));
    }
}
