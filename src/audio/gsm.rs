//! GSM 06.10 full-rate speech, in WAV files (format tag 0x0031, "WAV49") and raw (`.gsm`): what
//! many call recorders and PBXs (Asterisk's `wav49` and `gsm`) store calls as, at 13 kbit/s.
//! symphonia does not read it and no maintained crate decodes it, so the decoder of the standard
//! (ETSI GSM 06.10, section 4.3, fixed point) is here. It is bit-exact: its output equals the
//! reference implementation's sample for sample (a test compares it with sox, which uses libgsm).

use std::io::{Read, Seek, SeekFrom};

/// Bytes of one WAV49 block: two 260-bit frames packed least significant bit first.
pub const BLOCK_BYTES: usize = 65;
/// Samples one block decodes to (two frames of 160).
pub const BLOCK_SAMPLES: usize = 320;
/// Bytes of one raw frame: a 4-bit signature, then 260 bits most significant bit first.
pub const RAW_FRAME_BYTES: usize = 33;
/// Samples one frame decodes to (20 ms at 8 kHz).
pub const FRAME_SAMPLES: usize = 160;
/// The signature that starts every raw frame.
pub const RAW_MAGIC: u8 = 0xd;
/// The WAVE format tag of GSM 06.10.
pub const FORMAT_TAG: u16 = 0x0031;

const MIN: i32 = i16::MIN as i32;
const MAX: i32 = i16::MAX as i32;

fn add(a: i16, b: i16) -> i16 {
    (i32::from(a) + i32::from(b)).clamp(MIN, MAX) as i16
}

fn sub(a: i16, b: i16) -> i16 {
    (i32::from(a) - i32::from(b)).clamp(MIN, MAX) as i16
}

/// Multiplication with rounding (the standard's `mult_r`); the result keeps 16 bits.
fn mult_r(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        i16::MAX
    } else {
        ((i32::from(a) * i32::from(b) + 16384) >> 15) as i16
    }
}

/// Arithmetic shift right by `n`; a negative `n` shifts left.
fn asr(a: i16, n: i16) -> i16 {
    match n {
        16.. => -i16::from(a < 0),
        ..=-16 => 0,
        n if n < 0 => a.wrapping_shl(u32::from(n.unsigned_abs())),
        n => a >> n,
    }
}

/// Arithmetic shift left by `n`; a negative `n` shifts right.
fn asl(a: i16, n: i16) -> i16 {
    match n {
        16.. => 0,
        ..=-16 => -i16::from(a < 0),
        n if n < 0 => asr(a, -n),
        n => a.wrapping_shl(n as u32),
    }
}

/// Table 4.3b: the LTP gain's quantisation levels.
const QLB: [i16; 4] = [3277, 11469, 21299, 32767];
/// Table 4.6: the normalised mantissa of the RPE block maximum.
const FAC: [i16; 8] = [18431, 20479, 22527, 24575, 26623, 28671, 30719, 32767];
/// Decoding of the log-area ratios (4.2.8, table 4.1): 2B, the smallest code, and 1/A.
const LAR_B2: [i16; 8] = [0, 0, 4096, -5120, 188, -3584, -682, -2288];
const LAR_MIC: [i16; 8] = [-32, -32, -16, -16, -8, -8, -4, -4];
const LAR_INVA: [i16; 8] = [13107, 13107, 13107, 13107, 19223, 17476, 31454, 29708];
/// Bits of the eight log-area ratios.
const LAR_BITS: [u32; 8] = [6, 6, 5, 5, 4, 4, 3, 3];

/// The parameters of one 20 ms frame.
#[derive(Debug, Default, Clone, Copy)]
struct Frame {
    lar: [i16; 8],
    /// Per 5 ms subframe: LTP lag, LTP gain, RPE grid, block maximum, 13 RPE pulses.
    lag: [i16; 4],
    gain: [i16; 4],
    grid: [i16; 4],
    xmax: [i16; 4],
    pulses: [[i16; 13]; 4],
}

/// Reads fields from a frame's bits: least significant bit first as WAV49 packs them, or most
/// significant first as raw frames do.
struct Bits<'a> {
    bytes: &'a [u8],
    at: usize,
    msb_first: bool,
}

impl Bits<'_> {
    fn take(&mut self, n: u32) -> i16 {
        let mut v = 0u16;
        for i in 0..n {
            let (byte, bit) = (self.bytes[self.at / 8], self.at % 8);
            if self.msb_first {
                v = (v << 1) | u16::from((byte >> (7 - bit)) & 1);
            } else {
                v |= u16::from((byte >> bit) & 1) << i;
            }
            self.at += 1;
        }
        v as i16
    }

    fn frame(&mut self) -> Frame {
        let mut f = Frame::default();
        for (lar, bits) in f.lar.iter_mut().zip(LAR_BITS) {
            *lar = self.take(bits);
        }
        for j in 0..4 {
            f.lag[j] = self.take(7);
            f.gain[j] = self.take(2);
            f.grid[j] = self.take(2);
            f.xmax[j] = self.take(6);
            for p in &mut f.pulses[j] {
                *p = self.take(3);
            }
        }
        f
    }
}

/// The decoder's state between frames.
#[derive(Debug, Clone)]
pub struct Decoder {
    /// The reconstructed short-term residual: 120 past samples, then the current 40.
    dp: [i16; 160],
    /// Decoded log-area ratios of the previous and the current frame.
    larpp: [[i16; 8]; 2],
    current: usize,
    /// The last valid LTP lag.
    nrp: i16,
    /// The short-term synthesis filter's state.
    v: [i16; 9],
    /// The de-emphasis filter's state.
    msr: i16,
}

impl Default for Decoder {
    fn default() -> Self {
        Self {
            dp: [0; 160],
            larpp: [[0; 8]; 2],
            current: 0,
            nrp: 40,
            v: [0; 9],
            msr: 0,
        }
    }
}

impl Decoder {
    /// Decode one 65-byte WAV49 block into 320 samples.
    pub fn decode_block(&mut self, block: &[u8; BLOCK_BYTES], out: &mut [i16; BLOCK_SAMPLES]) {
        let mut bits = Bits {
            bytes: block,
            at: 0,
            msb_first: false,
        };
        for half in out.chunks_exact_mut(FRAME_SAMPLES) {
            let frame = bits.frame();
            self.decode_frame(&frame, half.try_into().expect("160 samples"));
        }
    }

    /// Decode one raw 33-byte frame into 160 samples; `false` (and nothing decoded) when it
    /// does not start with the signature of a GSM frame.
    pub fn decode_raw(
        &mut self,
        frame: &[u8; RAW_FRAME_BYTES],
        out: &mut [i16; FRAME_SAMPLES],
    ) -> bool {
        if frame[0] >> 4 != RAW_MAGIC {
            return false;
        }
        let mut bits = Bits {
            bytes: frame,
            at: 4,
            msb_first: true,
        };
        let frame = bits.frame();
        self.decode_frame(&frame, out);
        true
    }

    fn decode_frame(&mut self, f: &Frame, s: &mut [i16; 160]) {
        let mut wt = [0i16; 160];
        for j in 0..4 {
            let erp = rpe_decode(f.xmax[j], f.grid[j], &f.pulses[j]);
            self.long_term_synthesis(f.lag[j], f.gain[j], &erp);
            wt[j * 40..j * 40 + 40].copy_from_slice(&self.dp[120..160]);
        }
        self.short_term_synthesis(&f.lar, &wt, s);
        // De-emphasis, then truncation to 13 bits and upscaling.
        for x in s.iter_mut() {
            self.msr = add(*x, mult_r(self.msr, 28180));
            *x = add(self.msr, self.msr) & !7;
        }
    }

    /// 4.3.2: the reconstructed short-term residual of one subframe.
    fn long_term_synthesis(&mut self, lag: i16, gain: i16, erp: &[i16; 40]) {
        let nr = if (40..=120).contains(&lag) {
            lag
        } else {
            self.nrp
        };
        self.nrp = nr;
        let brp = QLB[gain as usize];
        for (k, &e) in erp.iter().enumerate() {
            let past = self.dp[120 + k - nr as usize];
            self.dp[120 + k] = add(e, mult_r(brp, past));
        }
        // Shift the history; dp[120..160] still holds this subframe for the caller.
        self.dp.copy_within(40..160, 0);
    }

    /// 4.3.3-4.3.4: decode the log-area ratios, interpolate them over the frame and filter.
    fn short_term_synthesis(&mut self, lar: &[i16; 8], wt: &[i16; 160], s: &mut [i16; 160]) {
        let now = self.current;
        self.current ^= 1;
        let prev = self.current;
        for i in 0..8 {
            let t = add(lar[i], LAR_MIC[i]).wrapping_shl(10);
            let t = mult_r(LAR_INVA[i], sub(t, LAR_B2[i]));
            self.larpp[now][i] = add(t, t);
        }
        let (old, new) = (self.larpp[prev], self.larpp[now]);
        let mut larp = [0i16; 8];
        // Four spans of the frame, each with its own interpolation of the two sets.
        for (from, to) in [(0, 13), (13, 27), (27, 40), (40, 160)] {
            for i in 0..8 {
                larp[i] = match from {
                    0 => add(add(old[i] >> 2, new[i] >> 2), old[i] >> 1),
                    13 => add(old[i] >> 1, new[i] >> 1),
                    27 => add(add(old[i] >> 2, new[i] >> 2), new[i] >> 1),
                    _ => new[i],
                };
            }
            let rp = larp.map(lar_to_rp);
            for k in from..to {
                let mut sri = wt[k];
                for i in (0..8).rev() {
                    sri = sub(sri, mult_r(rp[i], self.v[i]));
                    self.v[i + 1] = add(self.v[i], mult_r(rp[i], sri));
                }
                self.v[0] = sri;
                s[k] = sri;
            }
        }
    }
}

/// 4.2.9.2: an interpolated log-area ratio to a reflection coefficient.
fn lar_to_rp(lar: i16) -> i16 {
    let t = if lar == i16::MIN { i16::MAX } else { lar.abs() };
    let r = if t < 11059 {
        t << 1
    } else if t < 20070 {
        t + 11059
    } else {
        add(t >> 2, 26112)
    };
    if lar < 0 { -r } else { r }
}

/// 4.2.15-4.2.17: one subframe's excitation from its RPE pulses.
fn rpe_decode(xmaxc: i16, grid: i16, pulses: &[i16; 13]) -> [i16; 40] {
    // The block maximum's exponent and mantissa.
    let mut exp = 0i16;
    if xmaxc > 15 {
        exp = (xmaxc >> 3) - 1;
    }
    let mut mant = xmaxc - (exp << 3);
    if mant == 0 {
        exp = -4;
        mant = 7;
    } else {
        while mant <= 7 {
            mant = (mant << 1) | 1;
            exp -= 1;
        }
        mant -= 8;
    }
    let fac = FAC[mant as usize];
    let shift = sub(6, exp);
    let round = asl(1, sub(shift, 1));
    let mut erp = [0i16; 40];
    for (i, &p) in pulses.iter().enumerate() {
        let t = ((p << 1) - 7) << 12;
        let t = add(mult_r(fac, t), round);
        erp[grid as usize + 3 * i] = asr(t, shift);
    }
    erp
}

/// Where a GSM WAV's blocks are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavLayout {
    /// Samples per second.
    pub rate: u32,
    /// Offset of the first block.
    pub data_start: u64,
    /// Whole blocks in the data chunk.
    pub blocks: u64,
    /// The data ends before the size its header gives, or inside a block.
    pub truncated: bool,
}

/// Read a RIFF WAVE header of GSM 06.10 audio: the rate and where its blocks are. The error
/// says what is wrong, for a message naming the file.
pub fn read_layout<R: Read + Seek>(r: &mut R) -> Result<WavLayout, String> {
    let len = r.seek(SeekFrom::End(0)).map_err(|e| e.to_string())?;
    r.seek(SeekFrom::Start(12)).map_err(|e| e.to_string())?;
    let mut fmt: Option<(u16, u16, u32, u16)> = None;
    let mut pos = 12u64;
    loop {
        let mut head = [0u8; 8];
        if pos + 8 > len || r.read_exact(&mut head).is_err() {
            return Err("is a GSM WAV file without a data chunk".into());
        }
        let size = u64::from(u32::from_le_bytes([head[4], head[5], head[6], head[7]]));
        let body = pos + 8;
        match &head[0..4] {
            b"fmt " => {
                let mut f = [0u8; 16];
                if size < 16 {
                    return Err("is a WAV file with a damaged format chunk".into());
                }
                r.read_exact(&mut f)
                    .map_err(|_| "is truncated: the file ends inside its header".to_string())?;
                let u16at = |i: usize| u16::from_le_bytes([f[i], f[i + 1]]);
                let rate = u32::from_le_bytes([f[4], f[5], f[6], f[7]]);
                fmt = Some((u16at(0), u16at(2), rate, u16at(12)));
            }
            b"data" => {
                let Some((tag, channels, rate, align)) = fmt else {
                    return Err("is a WAV file whose data comes before its format".into());
                };
                if tag != FORMAT_TAG {
                    return Err(format!("is a WAV file of format {tag:#06x}, not GSM 6.10"));
                }
                if channels != 1 {
                    return Err(format!(
                        "is a GSM 6.10 WAV file with {channels} channels; GSM 6.10 is mono"
                    ));
                }
                if usize::from(align) != BLOCK_BYTES {
                    return Err(format!(
                        "is a GSM 6.10 WAV file with {align}-byte blocks (65 expected)"
                    ));
                }
                // A recorder that stopped early leaves the size too large (or 0 while
                // recording): read what is there.
                let available = len.saturating_sub(body);
                let cut = size > available;
                let size = if size == 0 || cut { available } else { size };
                return Ok(WavLayout {
                    rate,
                    data_start: body,
                    blocks: size / BLOCK_BYTES as u64,
                    truncated: cut || size % BLOCK_BYTES as u64 != 0,
                });
            }
            _ => {}
        }
        // Chunks are padded to an even length.
        pos = body + size + (size & 1);
        r.seek(SeekFrom::Start(pos)).map_err(|e| e.to_string())?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_in_either_bit_order() {
        let mut b = Bits {
            bytes: &[0b1010_1101, 0b0000_0001],
            at: 0,
            msb_first: false,
        };
        assert_eq!(b.take(3), 0b101);
        assert_eq!(b.take(6), 0b1_10101);
        let mut b = Bits {
            bytes: &[0b1010_1101, 0b1000_0000],
            at: 0,
            msb_first: true,
        };
        assert_eq!(b.take(3), 0b101);
        assert_eq!(b.take(6), 0b011011);
    }

    #[test]
    fn any_bits_decode_without_overflow() {
        // Every 260-bit pattern is a frame: damaged recordings must decode to something.
        // (Exactness against the reference decoder: tests/cli.rs, on a real call.)
        let mut d = Decoder::default();
        let mut out = [0i16; BLOCK_SAMPLES];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..5000 {
            let mut block = [0u8; BLOCK_BYTES];
            for b in &mut block {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            d.decode_block(&block, &mut out);
        }
        for fill in [0x00, 0xff] {
            d.decode_block(&[fill; BLOCK_BYTES], &mut out);
            let mut raw = [fill; RAW_FRAME_BYTES];
            raw[0] = 0xd0 | (fill & 0xf);
            assert!(d.decode_raw(&raw, (&mut out[..160]).try_into().unwrap()));
        }
        assert!(!d.decode_raw(&[0; RAW_FRAME_BYTES], (&mut out[..160]).try_into().unwrap()));
    }

    #[test]
    fn a_header_that_is_not_a_mono_gsm_wav_is_named() {
        let wav = |tag: u16, channels: u16, align: u16| {
            let mut v = b"RIFF\0\0\0\0WAVEfmt \x14\0\0\0".to_vec();
            v.extend_from_slice(&tag.to_le_bytes());
            v.extend_from_slice(&channels.to_le_bytes());
            v.extend_from_slice(&8000u32.to_le_bytes());
            v.extend_from_slice(&1625u32.to_le_bytes());
            v.extend_from_slice(&align.to_le_bytes());
            v.extend_from_slice(&[0; 6]);
            v.extend_from_slice(b"data");
            v.extend_from_slice(&130u32.to_le_bytes());
            v.extend_from_slice(&[0; 130]);
            std::io::Cursor::new(v)
        };
        let l = read_layout(&mut wav(0x31, 1, 65)).unwrap();
        assert_eq!(
            (l.rate, l.blocks, l.data_start, l.truncated),
            (8000, 2, 48, false)
        );
        let mut cut = wav(0x31, 1, 65).into_inner();
        cut.truncate(48 + 100);
        let l = read_layout(&mut std::io::Cursor::new(cut)).unwrap();
        assert_eq!((l.blocks, l.truncated), (1, true));
        assert!(
            read_layout(&mut wav(0x31, 2, 65))
                .unwrap_err()
                .contains("2 channels")
        );
        assert!(
            read_layout(&mut wav(0x31, 1, 33))
                .unwrap_err()
                .contains("33-byte")
        );
    }
}
