//! Key generators: YCSB's scrambled Zipfian and uniform.
//!
//! The Zipfian generator is YCSB's `ZipfianGenerator` (Gray et al., "Quickly
//! generating billion-record synthetic databases", SIGMOD 1994): rank `r`
//! (0 the most popular) is drawn with probability proportional to
//! `1 / (r + 1)^θ`. YCSB's `ScrambledZipfianGenerator` then hashes the rank
//! with FNV-1a so that the popular keys are spread over the key space rather
//! than clustered at its start (which would favour ordered indexes with
//! warm neighbouring lines). YCSB draws ranks over 10^10 items with a
//! precomputed zeta for θ = 0.99 only; here ranks are drawn over the table's
//! own `n` keys, for any θ in `[0, 1)`, and hashed modulo `n`.

/// A small, fast generator (xorshift64*), one per thread.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed` (any value).
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A uniform float in `[0, 1)`.
    #[inline]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform integer in `0..n` (`n > 0`).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

/// FNV-1a over the eight bytes of `v`, as YCSB's `Utils.fnvhash64`.
#[inline]
pub fn fnv64(v: u64) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in v.to_le_bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

/// Draws keys in `0..n`: uniform (θ = 0) or scrambled Zipfian.
#[derive(Clone, Debug)]
pub struct Keys {
    n: u64,
    zipf: Option<Zipf>,
}

/// The constants of YCSB's Zipfian generator over `n` items.
#[derive(Clone, Debug)]
struct Zipf {
    theta: f64,
    alpha: f64,
    zetan: f64,
    eta: f64,
    half_pow_theta: f64,
}

/// `sum_{i=1..n} 1 / i^θ`.
fn zeta(n: u64, theta: f64) -> f64 {
    (1..=n).map(|i| (i as f64).powf(-theta)).sum()
}

impl Keys {
    /// A generator over `0..n` with skew `theta`: 0 is uniform; YCSB's
    /// default is 0.99.
    ///
    /// Computing the Zipfian constants takes `O(n)` (about 10 ms for a
    /// million keys): build one and clone it into each thread.
    pub fn new(n: u64, theta: f64) -> Result<Keys, String> {
        if n == 0 {
            return Err("the key space is empty".into());
        }
        if !(0.0..1.0).contains(&theta) {
            return Err(format!(
                "θ = {theta}: the Zipfian generator needs 0 <= θ < 1"
            ));
        }
        if theta == 0.0 {
            return Ok(Keys { n, zipf: None });
        }
        let zetan = zeta(n, theta);
        let zeta2 = zeta(2, theta);
        let eta = (1.0 - (2.0 / n as f64).powf(1.0 - theta)) / (1.0 - zeta2 / zetan);
        Ok(Keys {
            n,
            zipf: Some(Zipf {
                theta,
                alpha: 1.0 / (1.0 - theta),
                zetan,
                eta,
                half_pow_theta: 0.5f64.powf(theta),
            }),
        })
    }

    /// The number of keys.
    pub fn len(&self) -> u64 {
        self.n
    }

    /// Whether the key space is empty (never: `new` refuses it).
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The skew θ (0 for uniform).
    pub fn theta(&self) -> f64 {
        self.zipf.as_ref().map_or(0.0, |z| z.theta)
    }

    /// The popularity rank drawn (0 the most popular); uniform without skew.
    #[inline]
    pub fn rank(&self, rng: &mut Rng) -> u64 {
        let Some(z) = &self.zipf else {
            return rng.below(self.n);
        };
        let u = rng.unit();
        let uz = u * z.zetan;
        if uz < 1.0 {
            return 0;
        }
        if uz < 1.0 + z.half_pow_theta {
            return 1.min(self.n - 1);
        }
        let r = (self.n as f64 * (z.eta * u - z.eta + 1.0).powf(z.alpha)) as u64;
        r.min(self.n - 1)
    }

    /// The next key: the rank, scrambled over the key space.
    #[inline]
    pub fn next(&self, rng: &mut Rng) -> u64 {
        let rank = self.rank(rng);
        match self.zipf {
            None => rank,
            Some(_) => fnv64(rank) % self.n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(keys: &Keys, draws: usize, f: impl Fn(&Keys, &mut Rng) -> u64) -> Vec<u64> {
        let mut rng = Rng::new(42);
        let mut h = vec![0u64; keys.len() as usize];
        for _ in 0..draws {
            h[f(keys, &mut rng) as usize] += 1;
        }
        h
    }

    #[test]
    fn zipf_ranks_follow_the_power_law() {
        let keys = Keys::new(1000, 0.99).unwrap();
        let h = histogram(&keys, 1_000_000, Keys::rank);
        // P(rank r) = (r+1)^-θ / zeta(n). Gray's method is exact for the two
        // first ranks and approximates the rest: check those within 5%, and
        // the mass of the top 100 ranks within 10%.
        let zetan = zeta(1000, 0.99);
        let p = |r: usize| ((r + 1) as f64).powf(-0.99) / zetan;
        for r in [0usize, 1] {
            let (got, expected) = (h[r] as f64, 1e6 * p(r));
            assert!(
                (got - expected).abs() < 0.05 * expected,
                "rank {r}: {got} vs {expected}"
            );
        }
        let got: u64 = h[..100].iter().sum();
        let expected: f64 = 1e6 * (0..100).map(p).sum::<f64>();
        assert!(
            (got as f64 - expected).abs() < 0.1 * expected,
            "top 100: {got} vs {expected}"
        );
        // The head is hot: rank 0 alone is about 13% of the draws at n = 1000.
        assert!(h[0] > 120_000 && h[0] < 140_000, "{}", h[0]);
    }

    #[test]
    fn scrambling_spreads_the_hot_keys() {
        let keys = Keys::new(1000, 0.99).unwrap();
        let h = histogram(&keys, 200_000, Keys::next);
        let hottest = (0..1000).max_by_key(|&k| h[k]).unwrap() as u64;
        assert_eq!(hottest, fnv64(0) % 1000);
        assert_ne!(hottest, 0, "the hottest key should not be the first");
    }

    #[test]
    fn uniform_is_flat_and_bad_input_is_refused() {
        let keys = Keys::new(100, 0.0).unwrap();
        let h = histogram(&keys, 100_000, Keys::next);
        assert!(h.iter().all(|&c| (800..1200).contains(&c)), "{h:?}");
        assert!(Keys::new(0, 0.5).is_err());
        assert!(Keys::new(10, 1.0).is_err());
        assert!(Keys::new(10, -0.1).is_err());
        assert!(Keys::new(10, f64::NAN).is_err());
    }
}
