//! `calmline model import`: CTranslate2 (faster-whisper) Whisper models to whisper.cpp's ggml.
//!
//! Many fine-tuned Whisper models are published only as CTranslate2 directories (`model.bin`,
//! `vocabulary.txt`). The conversion is a byte transformation: read CTranslate2's variables,
//! verify them (spec name, shapes, the all-zero fused key bias), rename them to OpenAI's state-dict
//! names, split the fused attention projections, convert to f16 (or quantize to q8_0), and write
//! whisper.cpp's header, mel filters and vocabulary in front.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use half::{bf16, f16};

use crate::error::{Error, Result};

/// Weight format of the written model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantization {
    /// 16-bit floats (whisper.cpp's `ftype = 1`).
    F16,
    /// 8-bit blocks with an f16 scale per 32 weights (`q8_0`): half the size, faster on CPU.
    Q8_0,
}

impl std::str::FromStr for Quantization {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "f16" => Ok(Self::F16),
            "q8_0" => Ok(Self::Q8_0),
            _ => Err(Error::Invalid(format!(
                "unsupported quantization {s:?}: use f16 or q8_0"
            ))),
        }
    }
}

/// What an import produced.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The written ggml file.
    pub path: PathBuf,
    /// Model name derived from its shape, e.g. `tiny.en`.
    pub name: String,
    /// Bytes written.
    pub bytes: u64,
    /// Tensors written.
    pub tensors: usize,
}

/// A CTranslate2 variable.
struct Var {
    dims: Vec<usize>,
    dtype: u8,
    data: std::ops::Range<usize>,
}

/// The parsed `model.bin`: variables by name (aliases resolved), over the file's bytes.
struct Ct2 {
    bytes: Vec<u8>,
    vars: HashMap<String, Var>,
    path: PathBuf,
}

/// Little-endian reader that turns running off the end into a clear error.
struct Reader<'a> {
    b: &'a [u8],
    p: usize,
    path: &'a Path,
}

impl Reader<'_> {
    fn bad(&self, what: &str) -> Error {
        Error::Decode {
            path: self.path.to_path_buf(),
            message: format!(
                "is not a valid CTranslate2 model: {what} (at byte {})",
                self.p
            ),
        }
    }
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        if self.p + n > self.b.len() {
            return Err(self.bad("the file ends early"));
        }
        let s = &self.b[self.p..self.p + n];
        self.p += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        let s = self.take(2)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn string(&mut self) -> Result<String> {
        let n = self.u16()? as usize;
        let s = self.take(n)?;
        let s = s.strip_suffix(&[0]).unwrap_or(s);
        String::from_utf8(s.to_vec()).map_err(|_| self.bad("a name is not UTF-8"))
    }
}

const DTYPE_F32: u8 = 0;
const DTYPE_I8: u8 = 1;
const DTYPE_I16: u8 = 2;
const DTYPE_I32: u8 = 3;
const DTYPE_F16: u8 = 4;
const DTYPE_BF16: u8 = 5;

fn dtype_size(d: u8) -> Option<usize> {
    match d {
        DTYPE_F32 | DTYPE_I32 => Some(4),
        DTYPE_I8 => Some(1),
        DTYPE_I16 | DTYPE_F16 | DTYPE_BF16 => Some(2),
        _ => None,
    }
}

impl Ct2 {
    fn parse(bytes: Vec<u8>, path: &Path) -> Result<Self> {
        let mut vars = HashMap::new();
        let mut r = Reader {
            b: &bytes,
            p: 0,
            path,
        };
        let version = r.u32()?;
        if !(5..=6).contains(&version) {
            return Err(r.bad(&format!(
                "binary version {version} (supported: 5 and 6); is this a CTranslate2 model.bin?"
            )));
        }
        let spec = r.string()?;
        if spec != "WhisperSpec" {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                message: format!("is a CTranslate2 {spec:?} model, not a Whisper model"),
            });
        }
        let _revision = r.u32()?;
        let n = r.u32()? as usize;
        for _ in 0..n {
            let name = r.string()?;
            let rank = r.u8()? as usize;
            let mut dims = Vec::with_capacity(rank);
            for _ in 0..rank {
                dims.push(r.u32()? as usize);
            }
            let dtype = r.u8()?;
            let nbytes = r.u32()? as usize;
            let Some(size) = dtype_size(dtype) else {
                return Err(r.bad(&format!("variable {name} has unknown dtype {dtype}")));
            };
            // Shapes come from the file: an overflowing product is a malformed file, not a size.
            let bytes_for_shape = dims
                .iter()
                .try_fold(1usize, |a, d| a.checked_mul(*d))
                .map(|c| c.max(1))
                .and_then(|c| c.checked_mul(size));
            if bytes_for_shape != Some(nbytes) {
                return Err(r.bad(&format!(
                    "variable {name}: {nbytes} bytes for shape {dims:?} of dtype {dtype}"
                )));
            }
            let start = r.p;
            r.take(nbytes)?;
            vars.insert(
                name,
                Var {
                    dims,
                    dtype,
                    data: start..start + nbytes,
                },
            );
        }
        let aliases = r.u32()? as usize;
        for _ in 0..aliases {
            let alias = r.string()?;
            let target = r.string()?;
            if let Some(v) = vars.get(&target) {
                let v = Var {
                    dims: v.dims.clone(),
                    dtype: v.dtype,
                    data: v.data.clone(),
                };
                vars.insert(alias, v);
            }
        }
        if r.p != bytes.len() {
            return Err(r.bad("unexpected bytes after the variables"));
        }
        Ok(Self {
            bytes,
            vars,
            path: path.to_path_buf(),
        })
    }

    fn var(&self, name: &str) -> Result<&Var> {
        self.vars.get(name).ok_or_else(|| Error::Decode {
            path: self.path.clone(),
            message: format!("is missing the variable {name}: not a complete Whisper model"),
        })
    }

    /// A float variable as f32 values, checked against `shape`.
    fn floats(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let v = self.var(name)?;
        if v.dims != shape {
            return Err(Error::Decode {
                path: self.path.clone(),
                message: format!("variable {name} has shape {:?}, expected {shape:?}", v.dims),
            });
        }
        let b = &self.bytes[v.data.clone()];
        Ok(match v.dtype {
            DTYPE_F32 => b
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            DTYPE_F16 => b
                .chunks_exact(2)
                .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            DTYPE_BF16 => b
                .chunks_exact(2)
                .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            DTYPE_I8 if self.vars.contains_key(&format!("{name}_scale")) => {
                return Err(Error::Unsupported {
                    path: self.path.clone(),
                    message: format!(
                        "is an int8-quantized CTranslate2 model ({name}); import a float16 or \
                         float32 conversion and use --quantize q8_0 instead"
                    ),
                });
            }
            d => {
                return Err(Error::Decode {
                    path: self.path.clone(),
                    message: format!("variable {name} has non-float dtype {d}"),
                });
            }
        })
    }

    /// An integer scalar (head counts).
    fn scalar(&self, name: &str) -> Result<usize> {
        let v = self.var(name)?;
        let b = &self.bytes[v.data.clone()];
        let x = match v.dtype {
            DTYPE_I8 => b[0] as i8 as i64,
            DTYPE_I16 => i16::from_le_bytes([b[0], b[1]]) as i64,
            DTYPE_I32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
            _ => -1,
        };
        usize::try_from(x)
            .ok()
            .filter(|&x| x > 0)
            .ok_or_else(|| Error::Decode {
                path: self.path.clone(),
                message: format!("variable {name} is not a positive integer"),
            })
    }
}

/// GPT-2's byte-level BPE alphabet: byte value for each printable stand-in character.
fn unicode_to_byte() -> HashMap<char, u8> {
    let mut bs: Vec<u32> = (b'!' as u32..=b'~' as u32)
        .chain(0xA1..=0xAC)
        .chain(0xAE..=0xFF)
        .collect();
    let mut cs = bs.clone();
    let mut n = 0;
    for b in 0..256u32 {
        if !bs.contains(&b) {
            bs.push(b);
            cs.push(256 + n);
            n += 1;
        }
    }
    bs.iter()
        .zip(&cs)
        .filter_map(|(&b, &c)| char::from_u32(c).map(|c| (c, b as u8)))
        .collect()
}

/// librosa.filters.mel(sr=16000, n_fft=400, n_mels) with Slaney scale and norm, as f32.
pub fn mel_filters(n_mels: usize) -> Vec<f32> {
    let (sr, n_fft) = (16000.0f64, 400usize);
    let n_freq = n_fft / 2 + 1;
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    let hz_to_mel = |f: f64| {
        if f >= min_log_hz {
            min_log_mel + (f / min_log_hz).ln() / logstep
        } else {
            f / f_sp
        }
    };
    let mel_to_hz = |m: f64| {
        if m >= min_log_mel {
            min_log_hz * (logstep * (m - min_log_mel)).exp()
        } else {
            f_sp * m
        }
    };
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(sr / 2.0));
    let mel_f: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n_mels + 1) as f64))
        .collect();
    let fft_f: Vec<f64> = (0..n_freq)
        .map(|i| (sr / 2.0) * i as f64 / (n_freq - 1) as f64)
        .collect();
    let mut w = vec![0f32; n_mels * n_freq];
    for i in 0..n_mels {
        let enorm = 2.0 / (mel_f[i + 2] - mel_f[i]);
        for (j, &f) in fft_f.iter().enumerate() {
            let lower = (f - mel_f[i]) / (mel_f[i + 1] - mel_f[i]);
            let upper = (mel_f[i + 2] - f) / (mel_f[i + 2] - mel_f[i + 1]);
            w[i * n_freq + j] = (lower.min(upper).max(0.0) * enorm) as f32;
        }
    }
    w
}

/// ggml tensor types.
const GGML_F32: i32 = 0;
const GGML_F16: i32 = 1;
const GGML_Q8_0: i32 = 8;

struct Writer<W: Write> {
    w: W,
    bytes: u64,
    tensors: usize,
}

impl<W: Write> Writer<W> {
    fn raw(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.bytes += b.len() as u64;
        self.w.write_all(b)
    }
    fn i32(&mut self, v: i32) -> std::io::Result<()> {
        self.raw(&v.to_le_bytes())
    }
    /// One tensor: `shape` is row-major (PyTorch order); ggml stores dims innermost first.
    fn tensor(
        &mut self,
        name: &str,
        shape: &[usize],
        ttype: i32,
        data: &[f32],
    ) -> std::io::Result<()> {
        self.i32(shape.len() as i32)?;
        self.i32(name.len() as i32)?;
        self.i32(ttype)?;
        for &d in shape.iter().rev() {
            self.i32(d as i32)?;
        }
        self.raw(name.as_bytes())?;
        let mut buf = Vec::with_capacity(data.len() * 2);
        match ttype {
            GGML_F32 => data.iter().for_each(|v| buf.extend(v.to_le_bytes())),
            GGML_F16 => data
                .iter()
                .for_each(|v| buf.extend(f16::from_f32(*v).to_le_bytes())),
            _ => {
                // q8_0: per block of 32, scale d = max|x| / 127 (f16) and 32 rounded int8.
                for block in data.chunks(32) {
                    let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
                    let d = amax / 127.0;
                    let id = if d > 0.0 { 1.0 / d } else { 0.0 };
                    buf.extend(f16::from_f32(d).to_le_bytes());
                    for v in block {
                        buf.push((v * id).round().clamp(-128.0, 127.0) as i8 as u8);
                    }
                }
            }
        }
        self.tensors += 1;
        self.raw(&buf)
    }
}

/// Convert the CTranslate2 Whisper model in `dir` to a ggml file at `out` (or, when `out` is a
/// folder, `out/ggml-<name>[-q8_0].bin`).
pub fn import(dir: &Path, out: &Path, q: Quantization) -> Result<Imported> {
    if !dir.is_dir() {
        return Err(Error::Invalid(format!(
            "{}: not a folder; give the CTranslate2 model folder (with model.bin and vocabulary.txt)",
            dir.display()
        )));
    }
    let model_path = dir.join("model.bin");
    let bytes = std::fs::read(&model_path).map_err(|source| Error::Io {
        path: model_path.clone(),
        source,
    })?;
    let vocab_path = dir.join("vocabulary.txt");
    let vocab_text = std::fs::read_to_string(&vocab_path).map_err(|source| Error::Io {
        path: vocab_path.clone(),
        source,
    })?;
    import_bytes(&model_path, bytes, &vocab_path, &vocab_text, out, q)
}

/// [`import`] from a `model.bin` and a vocabulary held in memory (`model_path` and `vocab_path`
/// stand for them in errors); writes to `out` (a file, or a folder to name the file in).
pub fn import_bytes(
    model_path: &Path,
    model: Vec<u8>,
    vocab_path: &Path,
    vocab_text: &str,
    out: &Path,
    q: Quantization,
) -> Result<Imported> {
    let model = Ct2::parse(model, model_path)?;
    let vocab_path = vocab_path.to_path_buf();
    let vocab: Vec<&str> = vocab_text.lines().collect();

    // Shapes come from the model itself.
    let conv1 = model.var("encoder/conv1/weight")?;
    let [n_state, n_mels, 3] = conv1.dims[..] else {
        return Err(Error::Decode {
            path: model.path.clone(),
            message: format!("encoder/conv1/weight has shape {:?}", conv1.dims),
        });
    };
    let rows = |name: &str| -> Result<usize> {
        model
            .var(name)?
            .dims
            .first()
            .copied()
            .ok_or_else(|| Error::Decode {
                path: model.path.clone(),
                message: format!("{name} is a scalar, not a matrix"),
            })
    };
    let n_audio_ctx = rows("encoder/position_encodings/encodings")?;
    let n_text_ctx = rows("decoder/position_encodings/encodings")?;
    let n_vocab = rows("decoder/embeddings/weight")?;
    let count_layers = |prefix: &str| {
        (0..)
            .take_while(|i| {
                model
                    .vars
                    .contains_key(&format!("{prefix}/layer_{i}/ffn/linear_0/weight"))
            })
            .count()
    };
    let (n_audio_layer, n_text_layer) = (count_layers("encoder"), count_layers("decoder"));
    let n_audio_head = model.scalar("encoder/num_heads")?;
    let n_text_head = model.scalar("decoder/num_heads")?;
    if n_audio_layer == 0 || n_text_layer == 0 {
        return Err(Error::Decode {
            path: model.path.clone(),
            message: "has no encoder or decoder layers".into(),
        });
    }
    if vocab.len() != n_vocab {
        return Err(Error::Decode {
            path: vocab_path,
            message: format!("has {} tokens but the model has {n_vocab}", vocab.len()),
        });
    }
    let eot = vocab
        .iter()
        .position(|t| *t == "<|endoftext|>")
        .ok_or_else(|| Error::Decode {
            path: vocab_path.clone(),
            message: "has no <|endoftext|> token: not a Whisper vocabulary".into(),
        })?;
    let english = n_vocab == 51864;
    let size = match n_audio_layer {
        4 => "tiny",
        6 => "base",
        12 => "small",
        24 => "medium",
        32 => "large",
        _ => "custom",
    };
    let name = format!("{size}{}", if english { ".en" } else { "" });
    let out = if out.is_dir() {
        out.join(format!(
            "ggml-{name}{}.bin",
            if q == Quantization::Q8_0 { "-q8_0" } else { "" }
        ))
    } else {
        out.to_path_buf()
    };
    if q == Quantization::Q8_0 && (n_state % 32 != 0) {
        return Err(Error::Invalid(format!(
            "q8_0 needs the model width to be a multiple of 32, not {n_state}"
        )));
    }

    let tmp = out.with_file_name(format!(
        ".{}.partial-{}",
        out.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let write_err = |source| Error::Write {
        path: out.clone(),
        source,
    };
    let result = (|| -> Result<(u64, usize)> {
        let file = std::fs::File::create(&tmp).map_err(write_err)?;
        let mut w = Writer {
            w: BufWriter::with_capacity(1 << 20, file),
            bytes: 0,
            tensors: 0,
        };
        let ftype = match q {
            Quantization::F16 => 1,
            // GGML_FTYPE_MOSTLY_Q8_0, tagged with the quantization format version (2 * 1000).
            Quantization::Q8_0 => 2000 + 7,
        };
        let wtype = match q {
            Quantization::F16 => GGML_F16,
            Quantization::Q8_0 => GGML_Q8_0,
        };
        (|| -> std::io::Result<()> {
            w.raw(&0x67676d6cu32.to_le_bytes())?;
            for v in [
                n_vocab,
                n_audio_ctx,
                n_state,
                n_audio_head,
                n_audio_layer,
                n_text_ctx,
                n_state,
                n_text_head,
                n_text_layer,
                n_mels,
            ] {
                w.i32(v as i32)?;
            }
            w.i32(ftype)?;
            w.i32(n_mels as i32)?;
            w.i32(201)?;
            for v in mel_filters(n_mels) {
                w.raw(&v.to_le_bytes())?;
            }
            let table = unicode_to_byte();
            w.i32(eot as i32)?;
            for tok in &vocab[..eot] {
                let bytes: Vec<u8> = tok
                    .chars()
                    .map(|c| table.get(&c).copied().unwrap_or(b'?'))
                    .collect();
                w.i32(bytes.len() as i32)?;
                w.raw(&bytes)?;
            }
            Ok(())
        })()
        .map_err(write_err)?;
        write_tensors(
            &model,
            &mut w,
            wtype,
            n_state,
            n_mels,
            n_audio_layer,
            n_text_layer,
        )?;
        w.w.flush().map_err(write_err)?;
        w.w.get_ref().sync_all().map_err(write_err)?;
        Ok((w.bytes, w.tensors))
    })();
    match result {
        Ok((bytes, tensors)) => {
            std::fs::rename(&tmp, &out).map_err(write_err)?;
            Ok(Imported {
                path: out,
                name,
                bytes,
                tensors,
            })
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn write_tensors<W: Write>(
    m: &Ct2,
    w: &mut Writer<W>,
    wtype: i32,
    d: usize,
    n_mels: usize,
    n_audio_layer: usize,
    n_text_layer: usize,
) -> Result<()> {
    let io = |source| Error::Write {
        path: m.path.clone(),
        source,
    };
    let zero_key_bias = |name: &str, b: &[f32]| -> Result<()> {
        if b.iter().any(|v| *v != 0.0) {
            return Err(Error::Unsupported {
                path: m.path.clone(),
                message: format!(
                    "{name}: the fused key bias is not zero, so this is not a standard Whisper \
                     model (whisper.cpp has no key bias)"
                ),
            });
        }
        Ok(())
    };
    // Encoder front.
    let conv1 = m.floats("encoder/conv1/weight", &[d, n_mels, 3])?;
    w.tensor("encoder.conv1.weight", &[d, n_mels, 3], GGML_F16, &conv1)
        .map_err(io)?;
    let b = m.floats("encoder/conv1/bias", &[d])?;
    w.tensor("encoder.conv1.bias", &[d, 1], GGML_F32, &b)
        .map_err(io)?;
    let conv2 = m.floats("encoder/conv2/weight", &[d, d, 3])?;
    w.tensor("encoder.conv2.weight", &[d, d, 3], GGML_F16, &conv2)
        .map_err(io)?;
    let b = m.floats("encoder/conv2/bias", &[d])?;
    w.tensor("encoder.conv2.bias", &[d, 1], GGML_F32, &b)
        .map_err(io)?;
    let pe = m.var("encoder/position_encodings/encodings")?.dims.clone();
    let v = m.floats("encoder/position_encodings/encodings", &pe)?;
    w.tensor("encoder.positional_embedding", &pe, GGML_F32, &v)
        .map_err(io)?;

    // One linear layer: weight (wtype) and optional bias (f32).
    let linear = |w: &mut Writer<W>,
                  src: &str,
                  dst: &str,
                  rows: usize,
                  cols: usize,
                  bias: bool|
     -> Result<()> {
        let wt = m.floats(&format!("{src}/weight"), &[rows, cols])?;
        w.tensor(&format!("{dst}.weight"), &[rows, cols], wtype, &wt)
            .map_err(io)?;
        if bias {
            let b = m.floats(&format!("{src}/bias"), &[rows])?;
            w.tensor(&format!("{dst}.bias"), &[rows], GGML_F32, &b)
                .map_err(io)?;
        }
        Ok(())
    };
    let norm = |w: &mut Writer<W>, src: &str, dst: &str| -> Result<()> {
        let g = m.floats(&format!("{src}/gamma"), &[d])?;
        w.tensor(&format!("{dst}.weight"), &[d], GGML_F32, &g)
            .map_err(io)?;
        let b = m.floats(&format!("{src}/beta"), &[d])?;
        w.tensor(&format!("{dst}.bias"), &[d], GGML_F32, &b)
            .map_err(io)?;
        Ok(())
    };
    // Fused projections: split rows [k*d, d] into k matrices.
    let fused = |w: &mut Writer<W>, src: &str, parts: &[(&str, bool)]| -> Result<()> {
        let k = parts.len();
        let wt = m.floats(&format!("{src}/weight"), &[k * d, d])?;
        let bias = m.floats(&format!("{src}/bias"), &[k * d])?;
        for (i, (dst, keep_bias)) in parts.iter().enumerate() {
            let rows = &wt[i * d * d..(i + 1) * d * d];
            w.tensor(&format!("{dst}.weight"), &[d, d], wtype, rows)
                .map_err(io)?;
            let b = &bias[i * d..(i + 1) * d];
            if *keep_bias {
                w.tensor(&format!("{dst}.bias"), &[d], GGML_F32, b)
                    .map_err(io)?;
            } else {
                zero_key_bias(&format!("{src}/bias"), b)?;
            }
        }
        Ok(())
    };

    for i in 0..n_audio_layer {
        let s = format!("encoder/layer_{i}");
        let t = format!("encoder.blocks.{i}");
        norm(
            w,
            &format!("{s}/self_attention/layer_norm"),
            &format!("{t}.attn_ln"),
        )?;
        fused(
            w,
            &format!("{s}/self_attention/linear_0"),
            &[
                (&format!("{t}.attn.query"), true),
                (&format!("{t}.attn.key"), false),
                (&format!("{t}.attn.value"), true),
            ],
        )?;
        linear(
            w,
            &format!("{s}/self_attention/linear_1"),
            &format!("{t}.attn.out"),
            d,
            d,
            true,
        )?;
        norm(w, &format!("{s}/ffn/layer_norm"), &format!("{t}.mlp_ln"))?;
        linear(
            w,
            &format!("{s}/ffn/linear_0"),
            &format!("{t}.mlp.0"),
            4 * d,
            d,
            true,
        )?;
        linear(
            w,
            &format!("{s}/ffn/linear_1"),
            &format!("{t}.mlp.2"),
            d,
            4 * d,
            true,
        )?;
    }
    norm(w, "encoder/layer_norm", "encoder.ln_post")?;

    let emb_dims = m.var("decoder/embeddings/weight")?.dims.clone();
    let emb = m.floats("decoder/embeddings/weight", &emb_dims)?;
    w.tensor("decoder.token_embedding.weight", &emb_dims, wtype, &emb)
        .map_err(io)?;
    let pe = m.var("decoder/position_encodings/encodings")?.dims.clone();
    let v = m.floats("decoder/position_encodings/encodings", &pe)?;
    w.tensor("decoder.positional_embedding", &pe, GGML_F32, &v)
        .map_err(io)?;
    for i in 0..n_text_layer {
        let s = format!("decoder/layer_{i}");
        let t = format!("decoder.blocks.{i}");
        norm(
            w,
            &format!("{s}/self_attention/layer_norm"),
            &format!("{t}.attn_ln"),
        )?;
        fused(
            w,
            &format!("{s}/self_attention/linear_0"),
            &[
                (&format!("{t}.attn.query"), true),
                (&format!("{t}.attn.key"), false),
                (&format!("{t}.attn.value"), true),
            ],
        )?;
        linear(
            w,
            &format!("{s}/self_attention/linear_1"),
            &format!("{t}.attn.out"),
            d,
            d,
            true,
        )?;
        norm(
            w,
            &format!("{s}/attention/layer_norm"),
            &format!("{t}.cross_attn_ln"),
        )?;
        linear(
            w,
            &format!("{s}/attention/linear_0"),
            &format!("{t}.cross_attn.query"),
            d,
            d,
            true,
        )?;
        fused(
            w,
            &format!("{s}/attention/linear_1"),
            &[
                (&format!("{t}.cross_attn.key"), false),
                (&format!("{t}.cross_attn.value"), true),
            ],
        )?;
        linear(
            w,
            &format!("{s}/attention/linear_2"),
            &format!("{t}.cross_attn.out"),
            d,
            d,
            true,
        )?;
        norm(w, &format!("{s}/ffn/layer_norm"), &format!("{t}.mlp_ln"))?;
        linear(
            w,
            &format!("{s}/ffn/linear_0"),
            &format!("{t}.mlp.0"),
            4 * d,
            d,
            true,
        )?;
        linear(
            w,
            &format!("{s}/ffn/linear_1"),
            &format!("{t}.mlp.2"),
            d,
            4 * d,
            true,
        )?;
    }
    norm(w, "decoder/layer_norm", "decoder.ln")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_alphabet_round_trips_all_bytes() {
        let t = unicode_to_byte();
        assert_eq!(t.len(), 256);
        assert_eq!(t[&'Ġ'], b' ');
        assert_eq!(t[&'a'], b'a');
    }

    #[test]
    fn mel_filters_match_librosa() {
        // librosa.filters.mel(sr=16000, n_fft=400, n_mels=80): a few known values.
        let w = mel_filters(80);
        assert_eq!(w.len(), 80 * 201);
        // Reference values printed by librosa 0.11 for the same call.
        for (row, col, v) in [
            (0, 1, 0.024862595f32),
            (10, 10, 0.019908218),
            (40, 43, 0.014735566),
            (79, 192, 0.0031647119),
        ] {
            let got = w[row * 201 + col];
            assert!((got - v).abs() < 1e-7, "[{row},{col}] {got} vs {v}");
        }
        assert_eq!(w[0], 0.0);
        assert!((w.iter().sum::<f32>() - 1.9990242).abs() < 1e-4);
        // Every filter is non-negative and non-empty.
        for i in 0..80 {
            let row = &w[i * 201..(i + 1) * 201];
            assert!(
                row.iter().all(|v| *v >= 0.0) && row.iter().any(|v| *v > 0.0),
                "row {i}"
            );
        }
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("model.bin"), b"not a model at all").unwrap();
        std::fs::write(d.path().join("vocabulary.txt"), "a\nb\n").unwrap();
        let e = import(d.path(), d.path(), Quantization::F16)
            .unwrap_err()
            .to_string();
        assert!(e.contains("model.bin") && e.contains("CTranslate2"), "{e}");
        // Nothing written.
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 2);
    }
}
