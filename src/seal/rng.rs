//! ring's system random source, seen through `rand_core`'s traits, so that the `rsa` crate (key
//! generation, OAEP padding, blinding) draws from the same generator as everything else here.

use ring::rand::{SecureRandom, SystemRandom};

/// The operating system's CSPRNG (`ring::rand::SystemRandom`, getrandom(2) on Linux).
pub struct RingRng(SystemRandom);

impl Default for RingRng {
    fn default() -> Self {
        Self::new()
    }
}

/// The system generator failed (getrandom(2) returned an error).
#[derive(Debug, thiserror::Error)]
#[error("the system random generator failed")]
pub struct RandomFailed;

impl RingRng {
    /// A handle on the system generator.
    pub fn new() -> Self {
        Self(SystemRandom::new())
    }
}

impl rsa::rand_core::TryRng for RingRng {
    type Error = RandomFailed;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.0.fill(&mut b).map_err(|_| RandomFailed)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.0.fill(&mut b).map_err(|_| RandomFailed)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.0.fill(dst).map_err(|_| RandomFailed)
    }
}

impl rsa::rand_core::TryCryptoRng for RingRng {}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::rand_core::TryRng;

    #[test]
    fn draws_differ() {
        let mut r = RingRng::new();
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        r.try_fill_bytes(&mut a).unwrap();
        r.try_fill_bytes(&mut b).unwrap();
        assert_ne!(a, b);
        assert_ne!(r.try_next_u64().unwrap(), r.try_next_u64().unwrap());
    }
}
