//! What a file is, from its first bytes, before symphonia probes it.
//!
//! symphonia's probe scans up to 1 MB for any format marker, so a WavPack file (which keeps the
//! original WAV header a few bytes in) was read as a WAV of compressed bytes: 14 s of noise
//! reviewed as "no speech". The container must start the file (after an ID3v2 tag); a
//! recording in a format calmline cannot decode is named, with how to convert it.

/// The containers calmline decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// RIFF/RF64 WAVE.
    Wav,
    /// Native FLAC.
    Flac,
    /// Ogg (Vorbis or Opus inside; symphonia names any other codec).
    Ogg,
    /// AIFF or AIFF-C.
    Aiff,
    /// An MPEG audio frame (MP3).
    Mpeg,
    /// ISO base media (MP4, M4A, 3GP, QuickTime): AAC-LC, ALAC or MP3 inside decode;
    /// symphonia names any other codec.
    Mp4,
    /// Matroska or WebM (EBML): Opus, Vorbis, AAC, FLAC or PCM inside decode.
    Matroska {
        /// Where its Segment says the file ends, in bytes (`None`: not stated, as a live
        /// recorder writes it): a file shorter than that was cut off.
        segment_end: Option<u64>,
    },
    /// A raw AAC stream in ADTS frames (`.aac`).
    Adts,
    /// RIFF WAVE of GSM 06.10 speech (format tag 0x0031), which calmline decodes itself.
    GsmWav,
}

/// What the first bytes say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sniff {
    /// A container calmline decodes, starting the file.
    Known(Container),
    /// A recognised format calmline cannot decode: what it is and how to convert it.
    Foreign(String),
    /// Neither: left to the probe, which must then find MPEG audio (a stream cut mid-frame).
    Unknown,
}

/// Bytes to read from the start of the file (after any ID3v2 tag) for [`sniff`].
pub const HEAD: usize = 64;

const SOX: &str = "convert it first, e.g. `sox IN -e signed -b 16 OUT.wav`";
const FFMPEG: &str = "convert it first, e.g. `ffmpeg -i IN -c:a pcm_s16le OUT.wav`";

/// The length of an ID3v2 tag at the start of `head`, header included, if there is one.
pub fn id3v2_len(head: &[u8]) -> Option<u64> {
    if head.len() < 10 || &head[..3] != b"ID3" {
        return None;
    }
    // Sizes are "syncsafe": 7 bits per byte.
    let size = head[6..10]
        .iter()
        .fold(0u64, |acc, &b| (acc << 7) | u64::from(b & 0x7f));
    let footer = if head[5] & 0x10 != 0 { 10 } else { 0 };
    Some(10 + size + footer)
}

/// Classify a file from its first bytes (those after any ID3v2 tag).
pub fn sniff(head: &[u8]) -> Sniff {
    let at = |i: usize, m: &[u8]| head.get(i..i + m.len()) == Some(m);
    let foreign = |what: &str, how: &str| {
        Sniff::Foreign(format!("{what}, which calmline cannot decode: {how}"))
    };
    if (at(0, b"RIFF") || at(0, b"RIFX") || at(0, b"RF64") || at(0, b"BW64")) && at(8, b"WAVE") {
        return match wav_format_tag(head) {
            Some(super::gsm::FORMAT_TAG) => Sniff::Known(Container::GsmWav),
            Some(tag) if !wav_tag_decodes(tag) => foreign(
                &format!("is a WAV file of {} audio", wav_tag_name(tag)),
                SOX,
            ),
            _ => Sniff::Known(Container::Wav),
        };
    }
    if at(0, b"RIFF") {
        let form = head
            .get(8..12)
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        return foreign(
            &format!("is a RIFF file of type {form:?}, not WAVE audio"),
            FFMPEG,
        );
    }
    if at(0, b"fLaC") {
        return Sniff::Known(Container::Flac);
    }
    if at(0, b"OggS") {
        return Sniff::Known(Container::Ogg);
    }
    if at(0, b"FORM") && (at(8, b"AIFF") || at(8, b"AIFC")) {
        return Sniff::Known(Container::Aiff);
    }
    if mpeg_header(head) {
        return Sniff::Known(Container::Mpeg);
    }
    if at(4, b"ftyp") {
        return Sniff::Known(Container::Mp4);
    }
    if at(0, &[0x1a, 0x45, 0xdf, 0xa3]) {
        return Sniff::Known(Container::Matroska {
            segment_end: matroska_segment_end(head),
        });
    }
    if adts_header(head) {
        return Sniff::Known(Container::Adts);
    }
    let named: &[(usize, &[u8], &str, &str)] = &[
        (0, b"wvpk", "is a WavPack file", SOX),
        (0, b".snd", "is a Sun/NeXT .au file", SOX),
        (0, b"#!AMR", "is AMR speech", FFMPEG),
        (0, b"caff", "is a Core Audio (CAF) file", FFMPEG),
        (
            0,
            &[0x30, 0x26, 0xb2, 0x75],
            "is a Windows Media (WMA/ASF) file",
            FFMPEG,
        ),
        (0, b"MAC ", "is a Monkey's Audio file", FFMPEG),
    ];
    for (i, magic, what, how) in named {
        if at(*i, magic) {
            return foreign(what, how);
        }
    }
    let not_audio: &[(&[u8], &str)] = &[
        (b"\x7fELF", "a program"),
        (b"%PDF", "a PDF document"),
        (b"\x89PNG", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"PK\x03\x04", "a ZIP archive"),
        (b"\x1f\x8b", "a gzip archive"),
    ];
    for (magic, what) in not_audio {
        if at(0, magic) {
            return Sniff::Foreign(format!("is {what}, not an audio recording"));
        }
    }
    Sniff::Unknown
}

/// A valid MPEG audio frame header: the sync bits and no reserved field (raw mu-law silence is
/// 0xff bytes, which the sync bits alone would take for MP3).
fn mpeg_header(head: &[u8]) -> bool {
    let [a, b, c, ..] = *head else {
        return false;
    };
    a == 0xff
        && b & 0xe0 == 0xe0
        && (b >> 3) & 3 != 1 // version
        && (b >> 1) & 3 != 0 // layer
        && c >> 4 != 0xf // bitrate
        && (c >> 2) & 3 != 3 // sample rate
}

/// Where a Matroska file's Segment ends: after the EBML header, the Segment's ID and size.
fn matroska_segment_end(head: &[u8]) -> Option<u64> {
    // An EBML variable-length integer at `at`: its value (marker bit cleared), its length, and
    // whether every value bit is set (the "unknown size" a live recorder writes).
    let vint = |at: usize| -> Option<(u64, usize, bool)> {
        let first = *head.get(at)?;
        let len = first.leading_zeros() as usize + 1;
        if len > 8 {
            return None;
        }
        let mut v = u64::from(first) & (0xff >> len);
        for &b in head.get(at + 1..at + len)? {
            v = (v << 8) | u64::from(b);
        }
        Some((v, len, v == (1u64 << (7 * len)) - 1))
    };
    let (header, len, _) = vint(4)?;
    let segment = 4 + len + usize::try_from(header).ok()?;
    if head.get(segment..segment + 4)? != [0x18, 0x53, 0x80, 0x67] {
        return None;
    }
    let (size, len, unknown) = vint(segment + 4)?;
    (!unknown).then(|| (segment + 4 + len) as u64 + size)
}

/// A valid ADTS (raw AAC) frame header: the sync bits with MPEG's layer field zero, and a
/// sampling frequency index that exists.
fn adts_header(head: &[u8]) -> bool {
    let [a, b, c, ..] = *head else {
        return false;
    };
    a == 0xff && b & 0xf6 == 0xf0 && (c >> 2) & 0xf <= 12
}

/// The headerless telephony formats Asterisk records, known only by their extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Headerless {
    /// GSM 06.10 frames (`.gsm`), 8 kHz.
    Gsm,
    /// G.711 mu-law (`.ul`, `.ulaw`, `.mulaw`), 8 kHz.
    MuLaw,
    /// G.711 A-law (`.al`, `.alaw`), 8 kHz.
    ALaw,
    /// Signed 16-bit little-endian samples (`.sln` at 8 kHz, `.sln16` at 16 kHz, ...), at this
    /// rate.
    Linear(u32),
}

/// The headerless format an extension names, if any: mono, at the rate Asterisk writes it.
pub fn headerless(ext: &str) -> Option<Headerless> {
    let ext = ext.to_ascii_lowercase();
    Some(match ext.as_str() {
        "gsm" => Headerless::Gsm,
        "ul" | "ulaw" | "mulaw" => Headerless::MuLaw,
        "al" | "alaw" => Headerless::ALaw,
        "sln" => Headerless::Linear(8000),
        _ => {
            let khz: u32 = ext.strip_prefix("sln")?.parse().ok()?;
            Headerless::Linear(match khz {
                12 | 16 | 24 | 32 | 48 | 96 | 192 => khz * 1000,
                44 => 44_100,
                _ => return None,
            })
        }
    })
}

/// The WAVE format tag of a canonical header (the `fmt ` chunk first, as nearly every writer
/// puts it); `None` where the header is laid out otherwise (symphonia then decides).
fn wav_format_tag(head: &[u8]) -> Option<u16> {
    if head.get(12..16) != Some(b"fmt ") {
        return None;
    }
    let tag = u16::from_le_bytes([*head.get(20)?, *head.get(21)?]);
    if tag == 0xfffe {
        // WAVE_FORMAT_EXTENSIBLE: the real tag leads the sub-format GUID.
        return Some(u16::from_le_bytes([*head.get(44)?, *head.get(45)?]));
    }
    Some(tag)
}

/// Format tags symphonia's WAV reader decodes with the codecs calmline builds.
fn wav_tag_decodes(tag: u16) -> bool {
    // PCM, MS ADPCM, IEEE float, A-law, mu-law, IMA ADPCM.
    matches!(tag, 0x0001 | 0x0002 | 0x0003 | 0x0006 | 0x0007 | 0x0011)
}

fn wav_tag_name(tag: u16) -> String {
    match tag {
        0x0040 | 0x0064 => "G.721/G.726 ADPCM".into(),
        0x0055 => "MPEG layer 3".into(),
        0x0050 => "MPEG".into(),
        0x0022 => "TrueSpeech".into(),
        0x0092 | 0xa100 => "G.723".into(),
        0x0160..=0x0162 => "Windows Media".into(),
        t => format!("format tag 0x{t:04x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav_head(tag: u16) -> Vec<u8> {
        let mut h = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0".to_vec();
        h.extend_from_slice(&tag.to_le_bytes());
        h.resize(HEAD, 0);
        h
    }

    #[test]
    fn containers_are_known_from_their_first_bytes() {
        assert_eq!(sniff(&wav_head(1)), Sniff::Known(Container::Wav));
        assert_eq!(sniff(&wav_head(7)), Sniff::Known(Container::Wav));
        assert_eq!(sniff(b"fLaC\0\0\0\x22"), Sniff::Known(Container::Flac));
        assert_eq!(sniff(b"FORM\0\0\0\0AIFC"), Sniff::Known(Container::Aiff));
        assert_eq!(
            sniff(&[0xff, 0xfb, 0x90, 0x64]),
            Sniff::Known(Container::Mpeg)
        );
        assert_eq!(
            sniff(b"\0\0\0\x20ftypM4A \0\0\0\0"),
            Sniff::Known(Container::Mp4)
        );
        // ADTS at 16 kHz (index 8), and MPEG's reserved layer with an index that does not exist.
        assert_eq!(
            sniff(&[0xff, 0xf1, 0x60, 0x80]),
            Sniff::Known(Container::Adts)
        );
        assert_eq!(sniff(&[0xff, 0xf1, 0x7c, 0x80]), Sniff::Unknown);
        let mut opus = b"OggS".to_vec();
        opus.resize(28, 0);
        opus.extend_from_slice(b"OpusHead");
        assert_eq!(sniff(&opus), Sniff::Known(Container::Ogg));
        // An EBML header of 3 bytes, then a Segment of 0x1000 bytes (2-byte size), or of a
        // size not stated.
        let mkv = |size: &[u8]| {
            let mut h = b"\x1a\x45\xdf\xa3\x83\x42\x86\x81\x18\x53\x80\x67".to_vec();
            h.extend_from_slice(size);
            sniff(&h)
        };
        let end = |segment_end| Sniff::Known(Container::Matroska { segment_end });
        assert_eq!(mkv(b"\x50\x00"), end(Some(14 + 0x1000)));
        assert_eq!(mkv(b"\x01\xff\xff\xff\xff\xff\xff\xff"), end(None));
        assert_eq!(mkv(b""), end(None));
        assert_eq!(sniff(b"no audio here at all"), Sniff::Unknown);
        assert_eq!(sniff(b""), Sniff::Unknown);
    }

    #[test]
    fn formats_calmline_cannot_decode_are_named() {
        let says = |head: &[u8], what: &str| match sniff(head) {
            Sniff::Foreign(m) => assert!(m.contains(what), "{m:?} should name {what:?}"),
            other => panic!("{other:?} for {what}"),
        };
        assert_eq!(sniff(&wav_head(0x31)), Sniff::Known(Container::GsmWav));
        says(&wav_head(0x1234), "0x1234");
        says(b"wvpkR\x16\0\0\x07\x04\0\0RIFFxxxxWAVE", "WavPack");
        says(b"\x7fELF\x02\x01", "a program");
        says(b"MAC \x96\x0f\0\0", "Monkey's Audio");
    }

    #[test]
    fn headerless_telephony_files_are_known_by_extension() {
        assert_eq!(headerless("GSM"), Some(Headerless::Gsm));
        assert_eq!(headerless("ul"), Some(Headerless::MuLaw));
        assert_eq!(headerless("alaw"), Some(Headerless::ALaw));
        assert_eq!(headerless("sln"), Some(Headerless::Linear(8000)));
        assert_eq!(headerless("sln44"), Some(Headerless::Linear(44_100)));
        assert_eq!(headerless("sln17"), None);
        assert_eq!(headerless("wav"), None);
    }

    #[test]
    fn an_id3_tag_is_measured_in_syncsafe_bytes() {
        // 0x02 0x01 = 2 * 128 + 1 = 257 bytes of tag after its 10-byte header.
        assert_eq!(id3v2_len(b"ID3\x04\0\0\0\0\x02\x01"), Some(267));
        assert_eq!(id3v2_len(b"ID3\x04\0\x10\0\0\0\x05"), Some(25));
        assert_eq!(id3v2_len(b"RIFF\0\0\0\0WAVE"), None);
    }
}
