//! Hex and base64 (RFC 4648 standard alphabet, padded): small enough not to need a crate.

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Decodes hex (either case). Errors name the offending position.
pub fn hex_decode(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits ({})", b.len()));
    }
    let nibble = |i: usize| -> Result<u8, String> {
        let c = b.get(i).copied().unwrap_or(b'?');
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(format!(
                "{:?} at position {i} is not a hex digit",
                c as char
            )),
        }
    };
    (0..b.len() / 2)
        .map(|i| Ok(nibble(2 * i)? << 4 | nibble(2 * i + 1)?))
        .collect()
}

/// Lowercase hex.
pub fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Decodes standard padded base64. Whitespace is not allowed (PEM callers strip it).
pub fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(4) {
        return Err(format!(
            "base64 length {} is not a multiple of 4 (padding missing?)",
            b.len()
        ));
    }
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    let chunks = b.len() / 4;
    for (ci, chunk) in b.chunks(4).enumerate() {
        let last = ci + 1 == chunks;
        let mut vals = [0u8; 4];
        let mut pad = 0;
        for (i, &c) in chunk.iter().enumerate() {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                b'=' if last && i >= 2 => {
                    pad += 1;
                    0
                }
                _ => {
                    return Err(format!(
                        "{:?} at position {} is not base64",
                        c as char,
                        ci * 4 + i
                    ))
                }
            };
            if pad > 0 && c != b'=' {
                return Err(format!("data after padding at position {}", ci * 4 + i));
            }
            if let Some(slot) = vals.get_mut(i) {
                *slot = v;
            }
        }
        let [a, b2, c2, d] = vals;
        let n = u32::from(a) << 18 | u32::from(b2) << 12 | u32::from(c2) << 6 | u32::from(d);
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(bytes.get(..3 - pad).unwrap_or(&[]));
    }
    Ok(out)
}

/// Encodes standard padded base64.
pub fn base64_encode(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &x)| n | u32::from(x) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                let idx = (n >> (18 - 6 * i)) & 63;
                out.push(char::from(B64.get(idx as usize).copied().unwrap_or(b'A')));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The DER bytes of the first `-----BEGIN CERTIFICATE-----` block of a PEM text.
pub fn pem_certificate_der(pem: &str) -> Result<Vec<u8>, String> {
    let begin = "-----BEGIN CERTIFICATE-----";
    let end = "-----END CERTIFICATE-----";
    let start = pem.find(begin).ok_or("no BEGIN CERTIFICATE line")? + begin.len();
    let rest = pem.get(start..).unwrap_or("");
    let stop = rest.find(end).ok_or("no END CERTIFICATE line")?;
    let body: String = rest
        .get(..stop)
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64_decode(&body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_every_length() {
        for n in 0..70u8 {
            let data: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37).wrapping_add(n)).collect();
            let e = base64_encode(&data);
            assert_eq!(base64_decode(&e).unwrap(), data, "{e}");
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_decode("Zm8=").unwrap(), b"fo");
    }

    #[test]
    fn base64_rejects_bad_input() {
        assert!(base64_decode("Zm8").unwrap_err().contains("multiple of 4"));
        assert!(base64_decode("Zm=8").unwrap_err().contains("position"));
        assert!(base64_decode("=AAA").is_err());
        assert!(
            base64_decode("Zm8=Zm8=").is_err(),
            "padding only at the end"
        );
        assert!(base64_decode("Zm-=").unwrap_err().contains("'-'"));
    }

    #[test]
    fn hex() {
        assert_eq!(hex_decode("00fFa0").unwrap(), vec![0, 255, 160]);
        assert!(hex_decode("abc").unwrap_err().contains("odd"));
        assert!(hex_decode("zz").unwrap_err().contains("position 0"));
        assert_eq!(hex_encode(&[1, 171]), "01ab");
    }

    #[test]
    fn pem() {
        let pem = "junk\n-----BEGIN CERTIFICATE-----\nZm9v\nYmFy\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_certificate_der(pem).unwrap(), b"foobar");
        assert!(pem_certificate_der("nothing").is_err());
    }
}
