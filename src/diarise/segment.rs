//! Local speaker segmentation: pyannote segmentation-3.0 (SincNet + LSTM) run with tract.
//!
//! The model sees 10 s of 16 kHz audio and answers, for 589 frames of 16.875 ms, which of up to
//! three *local* speakers talk (a powerset over {none, 1, 2, 3, 1+2, 1+3, 2+3}). Local means the
//! labels are only consistent within one window; [`super::Diariser`] links them across windows.

use std::path::Path;

use tract_onnx::prelude::*;

use crate::error::{Error, Result};

/// Samples per window (10 s at 16 kHz).
pub const WINDOW: usize = 160_000;
/// Frames per window.
pub const FRAMES: usize = 589;
/// Samples between two frames.
pub const FRAME_STEP: usize = 270;
/// Samples from a frame's start to its centre: half the 991-sample receptive field (SincNet:
/// 251-tap filters every 10 samples, then three 3x pools and two 5-tap convolutions).
pub const FRAME_CENTRE: usize = 495;
/// Local speakers per window.
pub const LOCAL: usize = 3;

/// Which local speakers each powerset class switches on.
const POWERSET: [[bool; LOCAL]; 7] = [
    [false, false, false],
    [true, false, false],
    [false, true, false],
    [false, false, true],
    [true, true, false],
    [true, false, true],
    [false, true, true],
];

/// The segmentation network, loaded once and run on any number of windows (thread-safe).
pub struct Segmenter {
    plan: std::sync::Arc<TypedRunnableModel>,
}

/// One window's answer: per frame, the probability that each local speaker is talking.
pub type Activity = Vec<[f32; LOCAL]>;

impl Segmenter {
    /// Load `segmentation-3.0.onnx`.
    pub fn load(path: &Path) -> Result<Self> {
        let err = |message: String| Error::Model {
            path: path.to_path_buf(),
            message,
        };
        let onnx = tract_onnx::onnx();
        let mut proto = onnx
            .proto_model_for_path(path)
            .map_err(|e| err(format!("not an ONNX model: {e}")))?;
        inline_if(&mut proto).map_err(err)?;
        let plan = onnx
            .model_for_proto_model(&proto)
            .and_then(|m| m.with_input_fact(0, f32::fact([1, 1, WINDOW]).into()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| err(format!("cannot prepare the segmentation network: {e}")))?;
        Ok(Segmenter { plan })
    }

    /// Run one window (shorter input is padded with silence). Returns [`FRAMES`] frames.
    pub fn run(&self, samples: &[f32]) -> Result<Activity> {
        let mut input = vec![0f32; WINDOW];
        let n = samples.len().min(WINDOW);
        input[..n].copy_from_slice(&samples[..n]);
        let tensor = tract_ndarray::Array3::from_shape_vec((1, 1, WINDOW), input)
            .map_err(|e| Error::Invalid(e.to_string()))?
            .into_tensor();
        let out = self
            .plan
            .run(tvec!(tensor.into()))
            .map_err(|e| Error::Invalid(format!("segmentation failed: {e}")))?;
        let view = out[0]
            .to_plain_array_view::<f32>()
            .map_err(|e| Error::Invalid(format!("segmentation output: {e}")))?;
        let shape = view.shape().to_vec();
        if shape.len() != 3 || shape[2] != POWERSET.len() {
            return Err(Error::Invalid(format!(
                "segmentation output has shape {shape:?}, expected [1, frames, 7]"
            )));
        }
        let mut activity = Vec::with_capacity(shape[1]);
        for f in 0..shape[1] {
            let mut p = [0f32; LOCAL];
            for (c, on) in POWERSET.iter().enumerate() {
                // The network ends in log-softmax.
                let prob = view[[0, f, c]].exp();
                for k in 0..LOCAL {
                    if on[k] {
                        p[k] += prob;
                    }
                }
            }
            activity.push(p);
        }
        Ok(activity)
    }
}

/// The exported graph wraps its first convolution in an `If` on the batch size (a batched and an
/// unbatched branch) that tract cannot convert. Both branches compute the same convolution for
/// one channel, so the `If` is replaced by its "then" branch.
fn inline_if(proto: &mut tract_onnx::pb::ModelProto) -> std::result::Result<(), String> {
    let graph = proto
        .graph
        .as_mut()
        .ok_or_else(|| "the ONNX file holds no graph".to_string())?;
    for node in graph.node.iter_mut().filter(|n| n.op_type == "If") {
        let then = node
            .attribute
            .iter()
            .find(|a| a.name == "then_branch")
            .and_then(|a| a.g.as_ref())
            .ok_or_else(|| "an If node without a then branch".to_string())?;
        let [inner] = then.node.as_slice() else {
            return Err("unexpected If node: its then branch is not one operation".into());
        };
        let mut inner = inner.clone();
        inner.output = node.output.clone();
        inner.name = format!("{}_then", node.name);
        *node = inner;
    }
    Ok(())
}
