//! Latency histograms across processes: a worker serializes each interval's
//! histogram with HdrHistogram's V2 format, base64 inside a JSON line on its
//! stdout, and the parent merges them.

use base64::Engine;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;

use super::HarnessError;

/// Serializes `h` (V2, then base64).
pub fn encode(h: &Histogram<u64>) -> Result<String, HarnessError> {
    let mut bytes = Vec::new();
    V2Serializer::new()
        .serialize(h, &mut bytes)
        .map_err(|e| HarnessError::Histogram(format!("{e:?}")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The inverse of [`encode`].
pub fn decode(text: &str) -> Result<Histogram<u64>, HarnessError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| HarnessError::Histogram(e.to_string()))?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| HarnessError::Histogram(format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::histogram;

    #[test]
    fn round_trips_and_merges() {
        let mut a = histogram();
        let mut b = histogram();
        for v in 1..=1000 {
            a.record(v).unwrap();
            b.record(v * 1000).unwrap();
        }
        let mut merged = histogram();
        for h in [&a, &b] {
            merged.add(decode(&encode(h).unwrap()).unwrap()).unwrap();
        }
        assert_eq!(merged.len(), 2000);
        assert_eq!(merged.max(), b.max());
        assert_eq!(merged.min(), 1);
        assert!(decode("not base64!").is_err());
    }
}
