//! The pipeline's batch mode (recordings: a second channel on its own thread, 10 s at a time)
//! gives exactly the events of hop-by-hop analysis, on real calls at 8 and 16 kHz.

use std::path::Path;

use calmline::Config;
use calmline::audio::{FileSource, Source};
use calmline::events::{Event, Speaker};
use calmline::pipeline::{Pipeline, channel_map};

fn events(path: &str, batched: bool) -> Vec<String> {
    let cfg = Config::default();
    let mut src = FileSource::open(Path::new(path)).unwrap();
    let speakers = channel_map(src.channels(), cfg.channels.customer).unwrap();
    let mut p = Pipeline::new(&cfg, speakers, src.sample_rate()).unwrap();
    if batched {
        p = p.batched().unwrap();
    }
    let mut out: Vec<Event> = Vec::new();
    let mut block = Vec::new();
    loop {
        let n = src.read(&mut block).unwrap();
        if n == 0 {
            break;
        }
        p.push(&block, n, &mut |e| out.push(e));
    }
    p.finish(&mut |e| out.push(e));
    out.iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect()
}

#[test]
fn batch_mode_gives_the_events_of_hop_by_hop_analysis() {
    for call in [
        "../shared/data/calls/spokenwoz_MUL1011_8k_stereo.wav",
        "../shared/data/calls/scenario_escalating_a01.wav",
        "../shared/data/calls/pyannote_sample.wav",
    ] {
        let (a, b) = (events(call, false), events(call, true));
        assert!(a.len() > 200, "{call}: {} events", a.len());
        let differ = a.iter().zip(&b).position(|(x, y)| x != y);
        assert!(
            a.len() == b.len() && differ.is_none(),
            "{call}: {} vs {} events, first difference at {differ:?}",
            a.len(),
            b.len()
        );
    }
}

#[test]
fn rates_outside_the_files_range_are_a_clear_error() {
    let cfg = Config::default();
    for rate in [0, 100, 7_999, 192_001, 399_989] {
        let err = Pipeline::new(&cfg, vec![Speaker::Mixed], rate)
            .err()
            .unwrap_or_else(|| panic!("{rate} Hz accepted"));
        assert!(err.to_string().contains(&format!("{rate} Hz")), "{err}");
    }
    for rate in [8_000, 11_025, 191_999, 192_000] {
        assert!(
            Pipeline::new(&cfg, vec![Speaker::Mixed], rate).is_ok(),
            "{rate} Hz"
        );
    }
}
