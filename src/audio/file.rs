//! Recorded calls: any format symphonia reads (WAV incl. G.711, FLAC, MP3, Ogg, AIFF, M4A,
//! WebM/MKA), with Opus decoded by libopus; Asterisk's headerless recordings (G.711 and 16-bit
//! through symphonia's PCM decoder); and GSM 06.10 (WAV49 and raw) through calmline's own decoder.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia::core::codecs::registry::CodecRegistry;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::units::Duration;

use super::gsm;
use super::sniff::{Container, HEAD, Headerless, Sniff, headerless, id3v2_len, sniff};
use super::source::Source;
use super::{MAX_RATE, MIN_RATE};
use crate::error::{Error, Result};

/// What calmline decodes, for error messages.
const SUPPORTED: &str = "supported: WAV incl. mu-law/A-law, ADPCM and GSM 6.10, FLAC, MP3, \
                         Ogg (Vorbis, Opus), WebM/MKA (Opus), AIFF, M4A/MP4 (AAC-LC, ALAC, \
                         Opus), AAC, and Asterisk's headerless .gsm, .ul, .al and .sln";

/// symphonia's decoders, and libopus's for Opus (in Ogg or WebM), which symphonia lacks.
fn codecs() -> &'static CodecRegistry {
    static CODECS: OnceLock<CodecRegistry> = OnceLock::new();
    CODECS.get_or_init(|| {
        let mut registry = CodecRegistry::new();
        symphonia::default::register_enabled_codecs(&mut registry);
        registry.register_audio_decoder::<symphonia_adapter_libopus::OpusDecoder>();
        registry
    })
}

/// The warning for a file that ends before its audio does.
const TRUNCATED: &str = "the file ends early (truncated); analysed what was there";

/// Consecutive undecodable packets after which the file is declared damaged.
const MAX_BAD_PACKETS: usize = 50;

/// A decoded audio file, read packet by packet.
pub struct FileSource {
    path: PathBuf,
    decoding: Decoding,
    rate: u32,
    channels: usize,
    total_frames: Option<u64>,
    bad_packets: usize,
    skipped_packets: usize,
    ended_early: Option<String>,
    /// An MP4 whose sample table runs past the end of the file (a recording cut off) fails
    /// as a malformed stream, not an end of file: read as truncated too.
    mp4: bool,
    /// Frames handed out so far.
    frames_read: u64,
    /// Frames still to drop before the call starts: an MP4's encoder priming, which its edit
    /// list skips and symphonia's reader does not.
    skip: u64,
}

/// Who decodes the file.
enum Decoding {
    Symphonia {
        reader: Box<dyn FormatReader + 'static>,
        decoder: Box<dyn AudioDecoder>,
        track_id: u32,
        /// Opus decoded below 48 kHz: the rate, to which the container's trims (counted at
        /// 48 kHz) are scaled before libopus's adapter applies them as they are.
        opus_below_48k: Option<u32>,
    },
    /// Headerless samples (G.711 or 16-bit linear), cut into packets for symphonia's decoder.
    Raw {
        source: Box<dyn MediaSource>,
        decoder: Box<dyn AudioDecoder>,
        /// Bytes per sample.
        width: usize,
        /// Samples handed to the decoder so far (its packets' timestamps).
        at: u64,
    },
    /// GSM 06.10: WAV49 blocks (or raw frames) read straight from the file.
    Gsm {
        source: Box<dyn MediaSource>,
        decoder: Box<gsm::Decoder>,
        blocks_left: u64,
        raw: bool,
    },
}

/// Headerless samples decoded per read.
const RAW_SAMPLES_PER_READ: usize = 8000;

/// GSM samples decoded per read: one second at 8 kHz.
const GSM_SAMPLES_PER_READ: usize = 8000;

impl FileSource {
    /// Open and probe `path`. Errors name the file and say what is wrong with it.
    pub fn open(path: &Path) -> Result<Self> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let decode = |message: String| Error::Decode {
            path: path.to_path_buf(),
            message,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        if meta.is_dir() {
            return Err(decode("is a folder, not an audio file".into()));
        }
        if meta.len() == 0 {
            return Err(decode("is empty (0 bytes)".into()));
        }
        let file = File::open(path).map_err(io)?;
        Self::from_stream(path, Box::new(file))
    }

    /// Decode a recording held in memory; `name` stands for it in errors, and its extension
    /// (if any) is a hint to the format.
    pub fn from_bytes(name: &Path, bytes: Vec<u8>) -> Result<Self> {
        if bytes.is_empty() {
            return Err(Error::Decode {
                path: name.to_path_buf(),
                message: "is empty (0 bytes)".into(),
            });
        }
        Self::from_stream(name, Box::new(std::io::Cursor::new(bytes)))
    }

    fn from_stream(path: &Path, mut source: Box<dyn MediaSource>) -> Result<Self> {
        let decode = |message: String| Error::Decode {
            path: path.to_path_buf(),
            message,
        };
        let sniffed = sniff_stream(&mut source).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let start = if sniffed == Sniff::Known(Container::Mp4) {
            super::mp4::audio_start(source.as_mut())
        } else {
            None
        };
        let ext = path.extension().and_then(|e| e.to_str());
        // Raw mu-law silence is 0xff bytes, which look like an MPEG frame's sync.
        if let (Sniff::Unknown | Sniff::Known(Container::Mpeg), Some(raw)) =
            (&sniffed, ext.and_then(headerless))
        {
            return match raw {
                Headerless::Gsm => Self::raw_gsm(path, source),
                other => Self::raw_samples(path, source, other),
            };
        }
        if let Sniff::Foreign(message) = sniffed {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                message: with_names(&message, path),
            });
        }
        if sniffed == Sniff::Known(Container::GsmWav) {
            return Self::gsm(path, source);
        }
        // A Matroska file cut off (a copy interrupted) states a Segment longer than the file,
        // which symphonia's reader refuses when it can seek; read front to back instead, as a
        // stream, up to the cut.
        let mut cut = false;
        if let Sniff::Known(Container::Matroska {
            segment_end: Some(end),
        }) = sniffed
            && source.byte_len().is_some_and(|len| len < end)
        {
            source = Box::new(symphonia::core::io::ReadOnlySource::new(source));
            cut = true;
        }
        let mss = MediaSourceStream::new(source, Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = ext {
            hint.with_extension(ext);
        }
        let reader = symphonia::default::get_probe()
            .probe(
                &hint,
                mss,
                FormatOptions::default(),
                MetadataOptions::default(),
            )
            .map_err(|e| {
                decode(match e {
                    SymError::IoError(ref io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                        "is truncated: the file ends inside its header".into()
                    }
                    SymError::Unsupported(_) if sniffed == Sniff::Known(Container::Mp4) => {
                        "is an MP4/M4A file without the index of its audio (no `moov` box): the \
                         recorder stopped before it finished the file, or it is damaged"
                            .into()
                    }
                    SymError::Unsupported(_) => {
                        format!("is not a recognised audio file ({SUPPORTED})")
                    }
                    other => format!("cannot be read as audio: {other}"),
                })
            })?;
        // The probe found a container's marker somewhere in the first megabyte; unless the
        // file starts with it, it is inside something else (MPEG audio alone may follow junk,
        // as in a stream recorded from the middle).
        let found = reader.format_info().short_name;
        if sniffed == Sniff::Unknown && !matches!(found, "mp1" | "mp2" | "mp3") {
            return Err(decode(format!(
                "is not a recognised audio file: it holds a {found} header, but not at its start \
                 ({SUPPORTED})"
            )));
        }
        let track = reader
            .default_track(TrackType::Audio)
            .ok_or_else(|| match sniffed {
                // symphonia's MP4 reader lists no track of a codec it does not know (AMR, as
                // phones record calls in .3gp, is the usual one).
                Sniff::Known(Container::Mp4) => Error::Unsupported {
                    path: path.to_path_buf(),
                    message: with_names(
                        "has no audio track calmline can decode (AMR speech, as phones record \
                         calls in .3gp files, is not decoded): convert it first, e.g. \
                         `ffmpeg -i IN -c:a pcm_s16le OUT.wav`",
                        path,
                    ),
                },
                _ => decode("contains no audio track".into()),
            })?;
        let mut params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .ok_or_else(|| decode("has no audio codec parameters".into()))?
            .clone();
        let opus = params.codec == symphonia::core::codecs::audio::well_known::CODEC_ID_OPUS;
        if opus {
            opus_params(&mut params, sniffed == Sniff::Known(Container::Mp4));
        }
        let track_id = track.id;
        // Before the rate and channels: a container leaves those unset for a codec it only names.
        let unknown_codec = || Error::Unsupported {
            path: path.to_path_buf(),
            message: with_names(
                &format!(
                    "holds {}, which calmline cannot decode: convert it first, \
                     e.g. `ffmpeg -i IN -c:a pcm_s16le OUT.wav`",
                    codec_name(params.codec)
                        .map_or_else(|| "audio in another codec".into(), |n| format!("{n} audio"))
                ),
                path,
            ),
        };
        if codecs().get_audio_decoder(params.codec).is_none() {
            return Err(unknown_codec());
        }
        // Opus's lengths are counted at 48 kHz.
        let total_frames = match (track.num_frames, params.sample_rate) {
            (Some(n), Some(rate)) if opus => Some(n * u64::from(rate) / 48_000),
            (n, _) => n,
        };
        let rate = params
            .sample_rate
            .ok_or_else(|| decode("does not state its sample rate".into()))?;
        if !(MIN_RATE..=MAX_RATE).contains(&rate) {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                message: format!(
                    "sample rate {rate} Hz is outside the supported {MIN_RATE}-{MAX_RATE} Hz"
                ),
            });
        }
        let channels = params.channels.as_ref().map(|c| c.count()).unwrap_or(0);
        if channels == 0 {
            return Err(decode("does not state its channel count".into()));
        }
        if channels > 2 {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                message: format!(
                    "has {channels} channels; calmline reviews mono or stereo calls (one speaker \
                     per channel). Pick the two call channels first, e.g. `sox IN OUT remix 1 2`"
                ),
            });
        }
        let decoder = codecs()
            .make_audio_decoder(&params, &AudioDecoderOptions::default())
            .map_err(|_| unknown_codec())?;
        // In the track's time units, which are the sample rate's for audio as recorders write
        // it; a start past the end is not believed.
        let skip = start
            .map(|(t, scale)| t.saturating_mul(u64::from(rate)) / u64::from(scale))
            .filter(|&k| total_frames.is_none_or(|n| k < n))
            .unwrap_or(0);
        let total_frames = total_frames.map(|n| n - skip);
        if total_frames == Some(0) {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                message: "contains no audio (0 samples)".into(),
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            decoding: Decoding::Symphonia {
                reader,
                decoder,
                track_id,
                opus_below_48k: (opus && rate < 48_000).then_some(rate),
            },
            rate,
            channels,
            total_frames,
            bad_packets: 0,
            skipped_packets: 0,
            ended_early: cut.then(|| TRUNCATED.into()),
            mp4: sniffed == Sniff::Known(Container::Mp4),
            frames_read: 0,
            skip,
        })
    }

    /// A WAV file of GSM 06.10 speech.
    fn gsm(path: &Path, mut source: Box<dyn MediaSource>) -> Result<Self> {
        let decode = |message: String| Error::Decode {
            path: path.to_path_buf(),
            message,
        };
        let layout = gsm::read_layout(&mut source).map_err(decode)?;
        if !(MIN_RATE..=MAX_RATE).contains(&layout.rate) {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                message: format!(
                    "sample rate {} Hz is outside the supported {MIN_RATE}-{MAX_RATE} Hz",
                    layout.rate
                ),
            });
        }
        if layout.blocks == 0 {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                message: "contains no audio (0 samples)".into(),
            });
        }
        source
            .seek(std::io::SeekFrom::Start(layout.data_start))
            .map_err(|e| Error::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
        Ok(Self {
            path: path.to_path_buf(),
            decoding: Decoding::Gsm {
                source,
                decoder: Box::default(),
                blocks_left: layout.blocks,
                raw: false,
            },
            rate: layout.rate,
            channels: 1,
            total_frames: Some(layout.blocks * gsm::BLOCK_SAMPLES as u64),
            bad_packets: 0,
            skipped_packets: 0,
            ended_early: layout.truncated.then(|| TRUNCATED.into()),
            mp4: false,
            frames_read: 0,
            skip: 0,
        })
    }

    /// Headerless G.711 or 16-bit samples (`.ul`, `.al`, `.sln`, as Asterisk records): mono, at
    /// the rate the extension implies.
    fn raw_samples(path: &Path, mut source: Box<dyn MediaSource>, raw: Headerless) -> Result<Self> {
        use symphonia::core::audio::layouts::CHANNEL_LAYOUT_MONO;
        use symphonia::core::codecs::audio::AudioCodecParameters;
        use symphonia::core::codecs::audio::well_known::{
            CODEC_ID_PCM_ALAW, CODEC_ID_PCM_MULAW, CODEC_ID_PCM_S16LE,
        };
        let (codec, rate, width) = match raw {
            Headerless::MuLaw => (CODEC_ID_PCM_MULAW, 8000, 1),
            Headerless::ALaw => (CODEC_ID_PCM_ALAW, 8000, 1),
            Headerless::Linear(rate) => (CODEC_ID_PCM_S16LE, rate, 2),
            Headerless::Gsm => unreachable!("GSM has its own decoder"),
        };
        let len = source
            .seek(std::io::SeekFrom::End(0))
            .and_then(|len| source.seek(std::io::SeekFrom::Start(0)).map(|_| len))
            .map_err(|e| Error::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
        let samples = len / width as u64;
        if samples == 0 {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                message: "contains no audio (0 samples)".into(),
            });
        }
        let mut params = AudioCodecParameters::new();
        params
            .for_codec(codec)
            .with_sample_rate(rate)
            .with_channels(CHANNEL_LAYOUT_MONO)
            .with_max_frames_per_packet(RAW_SAMPLES_PER_READ as u64);
        let decoder = codecs()
            .make_audio_decoder(&params, &AudioDecoderOptions::default())
            .map_err(|e| Error::Decode {
                path: path.to_path_buf(),
                message: format!("cannot be decoded: {e}"),
            })?;
        Ok(Self {
            path: path.to_path_buf(),
            decoding: Decoding::Raw {
                source,
                decoder,
                width,
                at: 0,
            },
            rate,
            channels: 1,
            total_frames: Some(samples),
            bad_packets: 0,
            skipped_packets: 0,
            ended_early: (len % width as u64 != 0).then(|| {
                "the file ends inside a sample (truncated); analysed what was there".into()
            }),
            mp4: false,
            frames_read: 0,
            skip: 0,
        })
    }

    /// Raw GSM 06.10 frames (`.gsm`, as Asterisk records): 8 kHz mono, no header.
    fn raw_gsm(path: &Path, mut source: Box<dyn MediaSource>) -> Result<Self> {
        use std::io::{Seek, SeekFrom};
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let len = source.seek(SeekFrom::End(0)).map_err(io)?;
        let mut first = [0u8; 1];
        source.seek(SeekFrom::Start(0)).map_err(io)?;
        source.read_exact(&mut first).map_err(io)?;
        source.seek(SeekFrom::Start(0)).map_err(io)?;
        let frames = len / gsm::RAW_FRAME_BYTES as u64;
        if frames == 0 || first[0] >> 4 != gsm::RAW_MAGIC {
            return Err(Error::Decode {
                path: path.to_path_buf(),
                message: "is not raw GSM 6.10 audio: it does not start with a GSM frame (33 \
                          bytes, the first four bits 1101)"
                    .into(),
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            decoding: Decoding::Gsm {
                source,
                decoder: Box::default(),
                blocks_left: frames,
                raw: true,
            },
            rate: 8000,
            channels: 1,
            total_frames: Some(frames * gsm::FRAME_SAMPLES as u64),
            bad_packets: 0,
            skipped_packets: 0,
            ended_early: (len % gsm::RAW_FRAME_BYTES as u64 != 0).then(|| {
                "the file ends inside a frame (truncated); analysed what was there".into()
            }),
            mp4: false,
            frames_read: 0,
            skip: 0,
        })
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Opus's parameters for libopus's adapter. libopus decodes at any of Opus's rates: decoded at
/// the rate the call was recorded at (OpusHead's input rate; containers state 48 kHz or that),
/// an 8 kHz phone call stays a telephone-band call, analysed at 8 kHz as its WAV would be, for a
/// sixth of the work. MP4's `dOps` box is OpusHead with its fields big-endian, and its edit list
/// skips the pre-skip (`skip` in [`FileSource`]); the adapter would read the big-endian bytes as
/// OpusHead's little-endian pre-skip and drop most of a frame more, so they are cleared.
fn opus_params(params: &mut AudioCodecParameters, mp4: bool) {
    let input = params.extra_data.as_deref().and_then(|h| h.get(12..16));
    let input = input.map(|b| {
        let b = [b[0], b[1], b[2], b[3]];
        if mp4 {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    });
    let opus_rate = |r: &u32| [8000, 12_000, 16_000, 24_000, 48_000].contains(r);
    params.sample_rate = Some(input.filter(opus_rate).unwrap_or(48_000));
    if let (true, Some(head)) = (mp4, &mut params.extra_data)
        && let Some(pre_skip) = head.get_mut(10..12)
    {
        pre_skip.fill(0);
    }
}

/// The name of a codec symphonia knows of but calmline does not decode, for the error.
fn codec_name(id: symphonia::core::codecs::audio::AudioCodecId) -> Option<&'static str> {
    use symphonia::core::codecs::audio::well_known::*;
    Some(match id {
        CODEC_ID_MP1 => "MPEG layer 1",
        CODEC_ID_MP2 => "MPEG layer 2",
        CODEC_ID_SPEEX => "Speex",
        CODEC_ID_AC3 => "Dolby AC-3",
        CODEC_ID_EAC3 => "Dolby E-AC-3",
        CODEC_ID_WMA => "Windows Media",
        _ => return None,
    })
}

/// The conversion command in `message` with this file's name for IN and a WAV beside it for
/// OUT, quoted for a POSIX shell where needed, so it can be pasted as it is.
fn with_names(message: &str, path: &Path) -> String {
    let out = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
    {
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        path.with_file_name(format!("{stem}-pcm.wav"))
    } else {
        path.with_extension("wav")
    };
    message
        .replace(" IN ", &format!(" {} ", shell_word(path)))
        .replace(" OUT.wav", &format!(" {}", shell_word(&out)))
}

fn shell_word(p: &Path) -> String {
    let s = p.to_string_lossy();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@%,=".contains(c))
    {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Count a packet that could not be decoded; too many in a row is an error saying `what` of
/// them.
fn bad_packet(
    path: &Path,
    in_a_row: &mut usize,
    skipped: &mut usize,
    what: impl FnOnce() -> String,
) -> Result<()> {
    *in_a_row += 1;
    *skipped += 1;
    if *in_a_row >= MAX_BAD_PACKETS {
        return Err(Error::Decode {
            path: path.to_path_buf(),
            message: format!("is damaged: {MAX_BAD_PACKETS} {}", what()),
        });
    }
    Ok(())
}

/// Read the first bytes (after any ID3v2 tag) and classify them; the stream is left at its start.
fn sniff_stream(source: &mut Box<dyn MediaSource>) -> std::io::Result<Sniff> {
    use std::io::{Read, Seek, SeekFrom};
    let mut head = Vec::with_capacity(HEAD);
    source.as_mut().take(HEAD as u64).read_to_end(&mut head)?;
    if let Some(skip) = id3v2_len(&head) {
        source.seek(SeekFrom::Start(skip))?;
        head.clear();
        source.as_mut().take(HEAD as u64).read_to_end(&mut head)?;
    }
    source.seek(SeekFrom::Start(0))?;
    Ok(sniff(&head))
}

impl Source for FileSource {
    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn channels(&self) -> usize {
        self.channels
    }

    fn total_frames(&self) -> Option<u64> {
        self.total_frames
    }

    fn read(&mut self, out: &mut Vec<Vec<f32>>) -> Result<usize> {
        let (reader, decoder, track_id, opus_below_48k) = match &mut self.decoding {
            Decoding::Symphonia {
                reader,
                decoder,
                track_id,
                opus_below_48k,
            } => (reader, decoder, *track_id, *opus_below_48k),
            Decoding::Raw {
                source,
                decoder,
                width,
                at,
            } => {
                let mut bytes = vec![0u8; RAW_SAMPLES_PER_READ * *width];
                let mut got = 0;
                while got < bytes.len() {
                    match source.read(&mut bytes[got..]) {
                        Ok(0) => break,
                        Ok(n) => got += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            return Err(Error::Io {
                                path: self.path.clone(),
                                source: e,
                            });
                        }
                    }
                }
                let n = got / *width;
                if n == 0 {
                    return Ok(0);
                }
                bytes.truncate(n * *width);
                let packet = symphonia::core::packet::Packet::new(
                    0,
                    symphonia::core::units::Timestamp::new(*at as i64),
                    symphonia::core::units::Duration::new(n as u64),
                    bytes,
                );
                *at += n as u64;
                let buf = decoder.decode(&packet).map_err(|e| Error::Decode {
                    path: self.path.clone(),
                    message: format!("cannot be decoded: {e}"),
                })?;
                buf.copy_to_vecs_planar::<f32>(out);
                self.frames_read += n as u64;
                return Ok(n);
            }
            Decoding::Gsm {
                source,
                decoder,
                blocks_left,
                raw,
            } => {
                let (block_bytes, block_samples) = if *raw {
                    (gsm::RAW_FRAME_BYTES, gsm::FRAME_SAMPLES)
                } else {
                    (gsm::BLOCK_BYTES, gsm::BLOCK_SAMPLES)
                };
                let n = (*blocks_left).min((GSM_SAMPLES_PER_READ / block_samples) as u64) as usize;
                let mut bytes = vec![0u8; n * block_bytes];
                source.read_exact(&mut bytes).map_err(|e| Error::Io {
                    path: self.path.clone(),
                    source: e,
                })?;
                *blocks_left -= n as u64;
                out.resize_with(1, Vec::new);
                let ch = &mut out[0];
                ch.clear();
                let mut pcm = [0i16; gsm::BLOCK_SAMPLES];
                for block in bytes.chunks_exact(block_bytes) {
                    let samples = if *raw {
                        let frame: &mut [i16; gsm::FRAME_SAMPLES] =
                            (&mut pcm[..gsm::FRAME_SAMPLES]).try_into().expect("160");
                        if decoder.decode_raw(block.try_into().expect("33 bytes"), &mut *frame) {
                            self.bad_packets = 0;
                        } else {
                            // Not a GSM frame: silence keeps the call's timeline.
                            frame.fill(0);
                            bad_packet(
                                &self.path,
                                &mut self.bad_packets,
                                &mut self.skipped_packets,
                                || "frames in a row are not GSM 6.10 frames".into(),
                            )?;
                        }
                        &pcm[..gsm::FRAME_SAMPLES]
                    } else {
                        decoder.decode_block(block.try_into().expect("65 bytes"), &mut pcm);
                        &pcm[..]
                    };
                    ch.extend(samples.iter().map(|&x| f32::from(x) / 32768.0));
                }
                self.frames_read += ch.len() as u64;
                return Ok(ch.len());
            }
        };
        loop {
            let packet = match reader.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(0),
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    self.ended_early = Some(TRUNCATED.into());
                    return Ok(0);
                }
                Err(SymError::DecodeError(_)) if self.mp4 && self.frames_read == 0 => {
                    return Err(Error::Decode {
                        path: self.path.clone(),
                        message: "is an MP4/M4A file cut off or damaged before its audio could \
                                  be read"
                            .into(),
                    });
                }
                Err(SymError::DecodeError(_)) if self.mp4 => {
                    self.ended_early = Some(
                        "the file ends early (cut off, or damaged from there on); analysed what \
                         was there"
                            .into(),
                    );
                    return Ok(0);
                }
                Err(SymError::ResetRequired) => {
                    // A chained stream changed its layout: treat as the end of the call.
                    self.ended_early =
                        Some("the stream changes format part-way; analysed the first part".into());
                    return Ok(0);
                }
                Err(e) => {
                    return Err(Error::Decode {
                        path: self.path.clone(),
                        message: format!("is damaged: {e}"),
                    });
                }
            };
            if packet.track_id != track_id {
                continue;
            }
            let mut packet = packet;
            if let Some(rate) = opus_below_48k {
                let scale = |d: Duration| Duration::new(d.get() * u64::from(rate) / 48_000);
                packet.trim_start = scale(packet.trim_start);
                packet.trim_end = scale(packet.trim_end);
            }
            match decoder.decode(&packet) {
                Ok(buf) => {
                    self.bad_packets = 0;
                    let mut frames = buf.frames();
                    if frames == 0 {
                        continue;
                    }
                    buf.copy_to_vecs_planar::<f32>(out);
                    if out.len() != self.channels {
                        return Err(Error::Decode {
                            path: self.path.clone(),
                            message: format!(
                                "changes its channel count part-way ({} -> {})",
                                self.channels,
                                out.len()
                            ),
                        });
                    }
                    if self.skip > 0 {
                        let k = (self.skip as usize).min(frames);
                        for ch in out.iter_mut() {
                            ch.drain(..k);
                        }
                        self.skip -= k as u64;
                        frames -= k;
                        if frames == 0 {
                            continue;
                        }
                    }
                    self.frames_read += frames as u64;
                    return Ok(frames);
                }
                Err(SymError::DecodeError(msg)) => {
                    bad_packet(
                        &self.path,
                        &mut self.bad_packets,
                        &mut self.skipped_packets,
                        || format!("packets in a row could not be decoded ({msg})"),
                    )?;
                }
                Err(SymError::IoError(_)) => {
                    self.ended_early = Some(TRUNCATED.into());
                    return Ok(0);
                }
                Err(e) => {
                    return Err(Error::Decode {
                        path: self.path.clone(),
                        message: format!("cannot be decoded: {e}"),
                    });
                }
            }
        }
    }

    fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.skipped_packets > 0 {
            w.push(format!(
                "{} damaged packet(s) were skipped while decoding",
                self.skipped_packets
            ));
        }
        if let Some(e) = &self.ended_early {
            w.push(e.clone());
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn the_conversion_command_names_the_file_and_can_be_pasted() {
        let m = "is X: convert it first, e.g. `sox IN -e signed -b 16 OUT.wav`";
        assert_eq!(
            super::with_names(m, Path::new("calls/a.wv")),
            "is X: convert it first, e.g. `sox calls/a.wv -e signed -b 16 calls/a.wav`"
        );
        assert_eq!(
            super::with_names(m, Path::new("Ann's call.wav")),
            r"is X: convert it first, e.g. `sox 'Ann'\''s call.wav' -e signed -b 16 'Ann'\''s call-pcm.wav'`"
        );
    }
}
