//! Speaker embeddings: CAM++ (3D-Speaker, zh/en "common advanced", 192 dimensions) on Kaldi-style
//! 80-bin log-mel filterbanks, run with candle from the published PyTorch state_dict.
//!
//! The network (a 2-D convolutional front end, then densely connected TDNN blocks with
//! context-aware masking, statistics pooling and a dense layer) follows 3D-Speaker's
//! `speakerlab/models/campplus`; batch norms are folded into per-channel scale and shift.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{D, DType, Device, Tensor};
use realfft::RealFftPlanner;

use crate::error::{Error, Result};

/// Mel bins of the input features.
const MELS: usize = 80;
/// Kaldi frame: 25 ms window, 10 ms shift at 16 kHz, padded to 512 for the FFT.
const FRAME: usize = 400;
const SHIFT: usize = 160;
const FFT: usize = 512;
/// The context-aware masking pools over segments of this many frames.
const SEGMENT: usize = 100;

/// The speaker-embedding network, loaded once (thread-safe: tensors are read-only).
pub struct Embedder {
    w: HashMap<String, Tensor>,
    /// Folded batch norms: name -> (scale, shift), shaped to broadcast over (1, C, ...).
    bn: HashMap<String, (Tensor, Tensor)>,
    mel: Vec<Vec<(usize, f32)>>,
    window: Vec<f32>,
}

/// Densely connected blocks: (layers, dilation).
const BLOCKS: [(usize, usize); 3] = [(12, 1), (24, 2), (16, 2)];

impl Embedder {
    /// Load `campplus_cn_en_common.pt` (a PyTorch state_dict).
    pub fn load(path: &Path) -> Result<Self> {
        let err = |message: String| Error::Model {
            path: path.to_path_buf(),
            message,
        };
        let tensors = candle_core::pickle::read_all(path)
            .map_err(|e| err(format!("not a PyTorch state_dict: {e}")))?;
        let mut w = HashMap::new();
        for (name, t) in tensors {
            let t = t
                .to_dtype(DType::F32)
                .map_err(|e| err(format!("{name}: {e}")))?;
            w.insert(name, t);
        }
        let mut e = Embedder {
            w,
            bn: HashMap::new(),
            mel: mel_banks(),
            window: povey_window(),
        };
        let mut norms: Vec<String> =
            e.w.keys()
                .filter_map(|k| k.strip_suffix(".running_mean").map(str::to_string))
                .collect();
        norms.sort();
        for name in norms {
            let folded = e.fold(&name).map_err(|m| err(format!("{name}: {m}")))?;
            e.bn.insert(name, folded);
        }
        // Fail now, not mid-review, when a layer the network needs is absent.
        e.embed_features(&vec![[0.0; MELS]; 40])
            .map_err(|m| err(format!("not a CAM++ speaker model: {m}")))?;
        Ok(e)
    }

    fn fold(&self, name: &str) -> std::result::Result<(Tensor, Tensor), String> {
        let get = |s: &str| -> std::result::Result<Vec<f32>, String> {
            self.w
                .get(&format!("{name}.{s}"))
                .ok_or_else(|| format!("missing {s}"))?
                .to_vec1::<f32>()
                .map_err(|e| e.to_string())
        };
        let mean = get("running_mean")?;
        let var = get("running_var")?;
        let weight = get("weight").unwrap_or_else(|_| vec![1.0; mean.len()]);
        let bias = get("bias").unwrap_or_else(|_| vec![0.0; mean.len()]);
        let scale: Vec<f32> = (0..mean.len())
            .map(|i| weight[i] / (var[i] + 1e-5).sqrt())
            .collect();
        let shift: Vec<f32> = (0..mean.len())
            .map(|i| bias[i] - mean[i] * scale[i])
            .collect();
        let c = mean.len();
        let t =
            |v: Vec<f32>| Tensor::from_vec(v, (1, c, 1), &Device::Cpu).map_err(|e| e.to_string());
        Ok((t(scale)?, t(shift)?))
    }

    /// The embedding of 16 kHz `samples` (at least 0.1 s), L2-normalised.
    pub fn embed(&self, samples: &[f32]) -> Result<Vec<f32>> {
        let feats = self.fbank(samples);
        if feats.len() < 8 {
            return Err(Error::Invalid("too little audio to embed a speaker".into()));
        }
        self.embed_features(&feats)
            .map_err(|e| Error::Invalid(format!("speaker embedding failed: {e}")))
    }

    /// Kaldi `fbank` (dither 0, DC removed, pre-emphasis 0.97, Povey window, power spectrum,
    /// 80 mel bins 20 Hz - 8 kHz, natural log), then each bin's mean over the segment removed.
    pub fn fbank(&self, samples: &[f32]) -> Vec<[f32; MELS]> {
        if samples.len() < FRAME {
            return Vec::new();
        }
        let n = 1 + (samples.len() - FRAME) / SHIFT;
        let mut planner = RealFftPlanner::<f32>::new();
        let fft = planner.plan_fft_forward(FFT);
        let mut buf = fft.make_input_vec();
        let mut spec = fft.make_output_vec();
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let frame = &samples[i * SHIFT..i * SHIFT + FRAME];
            let mean = frame.iter().sum::<f32>() / FRAME as f32;
            buf.iter_mut().for_each(|x| *x = 0.0);
            for j in (0..FRAME).rev() {
                let prev = if j == 0 { frame[0] } else { frame[j - 1] } - mean;
                buf[j] = ((frame[j] - mean) - 0.97 * prev) * self.window[j];
            }
            // A fixed-size forward FFT cannot fail on buffers it made itself.
            let _ = fft.process(&mut buf, &mut spec);
            let mut mel = [0f32; MELS];
            for (m, bank) in self.mel.iter().enumerate() {
                let e: f32 = bank.iter().map(|&(k, w)| w * spec[k].norm_sqr()).sum();
                mel[m] = e.max(f32::EPSILON).ln();
            }
            out.push(mel);
        }
        let mut mean = [0f32; MELS];
        for f in &out {
            for m in 0..MELS {
                mean[m] += f[m];
            }
        }
        for m in &mut mean {
            *m /= n as f32;
        }
        for f in &mut out {
            for m in 0..MELS {
                f[m] -= mean[m];
            }
        }
        out
    }

    fn embed_features(&self, feats: &[[f32; MELS]]) -> candle_core::Result<Vec<f32>> {
        let t = feats.len();
        let flat: Vec<f32> = feats.iter().flatten().copied().collect();
        // (T, F) -> (1, 1, F, T)
        let x = Tensor::from_vec(flat, (t, MELS), &Device::Cpu)?
            .t()?
            .contiguous()?
            .reshape((1, 1, MELS, t))?;
        // Front end (FCM).
        let x = self.conv2d(&x, "head.conv1.weight", 1, 1)?;
        let x = self.bn(&x, "head.bn1")?.relu()?;
        let x = self.res_block(&x, "head.layer1.0", 2)?;
        let x = self.res_block(&x, "head.layer1.1", 1)?;
        let x = self.res_block(&x, "head.layer2.0", 2)?;
        let x = self.res_block(&x, "head.layer2.1", 1)?;
        let x = self.conv2d(&x, "head.conv2.weight", 1, 2)?;
        let x = self.bn(&x, "head.bn2")?.relu()?;
        let (_, c, f, t) = x.dims4()?;
        let x = x.reshape((1, c * f, t))?;
        // TDNN trunk.
        let x = self.conv1d(&x, "xvector.tdnn.linear.weight", 2, 2, 1)?;
        let mut x = self.bn(&x, "xvector.tdnn.nonlinear.batchnorm")?.relu()?;
        for (b, (layers, dilation)) in BLOCKS.iter().enumerate() {
            for l in 1..=*layers {
                let p = format!("xvector.block{}.tdnnd{l}", b + 1);
                let y = self.bn(&x, &format!("{p}.nonlinear1.batchnorm"))?.relu()?;
                let y = self.conv1d(&y, &format!("{p}.linear1.weight"), 0, 1, 1)?;
                let y = self.bn(&y, &format!("{p}.nonlinear2.batchnorm"))?.relu()?;
                let y = self.cam(&y, &format!("{p}.cam_layer"), *dilation)?;
                x = Tensor::cat(&[&x, &y], 1)?;
            }
            let p = format!("xvector.transit{}", b + 1);
            let y = self.bn(&x, &format!("{p}.nonlinear.batchnorm"))?.relu()?;
            x = self.conv1d(&y, &format!("{p}.linear.weight"), 0, 1, 1)?;
        }
        let x = self.bn(&x, "xvector.out_nonlinear.batchnorm")?.relu()?;
        // Statistics pooling: mean and unbiased standard deviation over time.
        let t = x.dim(2)?;
        let mean = x.mean_keepdim(D::Minus1)?;
        let var = x
            .broadcast_sub(&mean)?
            .sqr()?
            .sum_keepdim(D::Minus1)?
            .affine(1.0 / (t.max(2) - 1) as f64, 0.0)?;
        let stats = Tensor::cat(&[&mean, &var.sqrt()?], 1)?;
        let y = self.conv1d(&stats, "xvector.dense.linear.weight", 0, 1, 1)?;
        let y = self.bn(&y, "xvector.dense.nonlinear.batchnorm")?;
        let v = y.flatten_all()?.to_vec1::<f32>()?;
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        Ok(v.into_iter().map(|x| x / norm).collect())
    }

    fn weight(&self, name: &str) -> candle_core::Result<&Tensor> {
        self.w
            .get(name)
            .ok_or_else(|| candle_core::Error::Msg(format!("missing tensor {name}")))
    }

    fn bn(&self, x: &Tensor, name: &str) -> candle_core::Result<Tensor> {
        let (scale, shift) = self
            .bn
            .get(name)
            .ok_or_else(|| candle_core::Error::Msg(format!("missing batch norm {name}")))?;
        let (scale, shift) = if x.rank() == 4 {
            (scale.unsqueeze(3)?, shift.unsqueeze(3)?)
        } else {
            (scale.clone(), shift.clone())
        };
        x.broadcast_mul(&scale)?.broadcast_add(&shift)
    }

    /// A 2-D 3x3 (or 1x1) convolution with `padding`, striding the frequency axis by
    /// `freq_stride` (time by 1), as one matrix product over an unfolded input: candle's own
    /// CPU convolution is several times slower here, and it strides both axes alike.
    fn conv2d(
        &self,
        x: &Tensor,
        name: &str,
        padding: usize,
        freq_stride: usize,
    ) -> candle_core::Result<Tensor> {
        let w = self.weight(name)?;
        let (o, c, kh, kw) = w.dims4()?;
        let (_, c2, f, t) = x.dims4()?;
        if c != c2 {
            return Err(candle_core::Error::Msg(format!(
                "{name}: {c} input channels expected, {c2} given"
            )));
        }
        let fo = (f + 2 * padding - kh) / freq_stride + 1;
        let to = t + 2 * padding - kw + 1;
        let src = x.flatten_all()?.to_vec1::<f32>()?;
        let mut cols = vec![0f32; c * kh * kw * fo * to];
        for ci in 0..c {
            for dy in 0..kh {
                for dx in 0..kw {
                    let row = ((ci * kh + dy) * kw + dx) * fo * to;
                    for yo in 0..fo {
                        let y = (yo * freq_stride + dy) as isize - padding as isize;
                        if y < 0 || y >= f as isize {
                            continue;
                        }
                        let src_row = &src[(ci * f + y as usize) * t..][..t];
                        let dst = &mut cols[row + yo * to..][..to];
                        // Output column xo reads input column xo + dx - padding.
                        let lo = padding.saturating_sub(dx);
                        let hi = (t + padding - dx).min(to);
                        if lo < hi {
                            dst[lo..hi]
                                .copy_from_slice(&src_row[lo + dx - padding..hi + dx - padding]);
                        }
                    }
                }
            }
        }
        let cols = Tensor::from_vec(cols, (c * kh * kw, fo * to), &Device::Cpu)?;
        w.reshape((o, c * kh * kw))?
            .matmul(&cols)?
            .reshape((1, o, fo, to))
    }

    fn conv1d(
        &self,
        x: &Tensor,
        name: &str,
        padding: usize,
        stride: usize,
        dilation: usize,
    ) -> candle_core::Result<Tensor> {
        let w = self.weight(name)?;
        let (o, c, k) = w.dims3()?;
        if k == 1 && stride == 1 && padding == 0 {
            // A pointwise layer is a matrix product.
            let (_, _, t) = x.dims3()?;
            return w
                .reshape((o, c))?
                .matmul(&x.reshape((c, t))?.contiguous()?)?
                .reshape((1, o, t));
        }
        x.conv1d(w, padding, stride, dilation, 1)
    }

    fn bias(&self, x: &Tensor, name: &str) -> candle_core::Result<Tensor> {
        let b = self.weight(name)?;
        x.broadcast_add(&b.reshape((1, b.dim(0)?, 1))?)
    }

    fn res_block(&self, x: &Tensor, p: &str, stride: usize) -> candle_core::Result<Tensor> {
        let y = self.conv2d(x, &format!("{p}.conv1.weight"), 1, stride)?;
        let y = self.bn(&y, &format!("{p}.bn1"))?.relu()?;
        let y = self.conv2d(&y, &format!("{p}.conv2.weight"), 1, 1)?;
        let y = self.bn(&y, &format!("{p}.bn2"))?;
        let short = if self.w.contains_key(&format!("{p}.shortcut.0.weight")) {
            let s = self.conv2d(x, &format!("{p}.shortcut.0.weight"), 0, stride)?;
            self.bn(&s, &format!("{p}.shortcut.1"))?
        } else {
            x.clone()
        };
        (y + short)?.relu()
    }

    /// Context-aware masking: a local convolution gated by the utterance's and the 100-frame
    /// segment's mean.
    fn cam(&self, x: &Tensor, p: &str, dilation: usize) -> candle_core::Result<Tensor> {
        let y = self.conv1d(
            x,
            &format!("{p}.linear_local.weight"),
            dilation,
            1,
            dilation,
        )?;
        let (_, _, t) = x.dims3()?;
        let global = x.mean_keepdim(D::Minus1)?;
        // The context is constant within each segment, and the gate is pointwise in time, so
        // it is computed once per segment and then repeated over the segment's frames.
        let mut means = Vec::new();
        let mut which = Vec::with_capacity(t);
        let mut start = 0;
        while start < t {
            let len = SEGMENT.min(t - start);
            means.push(x.narrow(2, start, len)?.mean_keepdim(D::Minus1)?);
            which.extend(std::iter::repeat_n(means.len() as u32 - 1, len));
            start += len;
        }
        let context = Tensor::cat(&means, 2)?.broadcast_add(&global)?;
        let h = self.conv1d(&context, &format!("{p}.linear1.weight"), 0, 1, 1)?;
        let h = self.bias(&h, &format!("{p}.linear1.bias"))?.relu()?;
        let h = self.conv1d(&h, &format!("{p}.linear2.weight"), 0, 1, 1)?;
        let h = self.bias(&h, &format!("{p}.linear2.bias"))?;
        // sigmoid(h) = 1 / (1 + e^-h)
        let m = (h.neg()?.exp()? + 1.0)?.recip()?;
        let which = Tensor::from_vec(which, t, &Device::Cpu)?;
        let m = m.index_select(&which, 2)?;
        y * m
    }
}

/// Kaldi's Povey window: a Hann window raised to 0.85.
fn povey_window() -> Vec<f32> {
    (0..FRAME)
        .map(|n| {
            let h = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / (FRAME - 1) as f64).cos();
            h.powf(0.85) as f32
        })
        .collect()
}

/// Kaldi's triangular mel filters (mel = 1127 ln(1 + f/700)), 20 Hz to 8 kHz, on 256 FFT bins.
fn mel_banks() -> Vec<Vec<(usize, f32)>> {
    let mel = |f: f64| 1127.0 * (1.0 + f / 700.0).ln();
    let (lo, hi) = (mel(20.0), mel(8000.0));
    let delta = (hi - lo) / (MELS + 1) as f64;
    (0..MELS)
        .map(|m| {
            let left = lo + m as f64 * delta;
            let centre = left + delta;
            let right = centre + delta;
            (0..FFT / 2)
                .filter_map(|k| {
                    let f = mel(k as f64 * 16000.0 / FFT as f64);
                    let w = if f > left && f <= centre {
                        (f - left) / (centre - left)
                    } else if f > centre && f < right {
                        (right - f) / (right - centre)
                    } else {
                        0.0
                    };
                    (w > 0.0).then_some((k, w as f32))
                })
                .collect()
        })
        .collect()
}
