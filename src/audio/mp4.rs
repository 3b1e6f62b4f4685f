//! What symphonia's MP4 reader leaves out: the edit list that says where an MP4/M4A's audio
//! starts. AAC encoders put 1024-2112 samples of priming before the first real sample and the
//! edit list skips them; without it the call's timeline runs 64-264 ms late (at 16 kHz).

use std::io::{Read, Seek, SeekFrom};

/// A `moov` bigger than this is not read (a call's index is a few hundred kilobytes).
const MAX_MOOV: u64 = 64 << 20;

/// The first audio track's start as its edit list gives it: `(media_time, timescale)`, the
/// samples to skip in the track's own time units. `None` when there is no such edit (or the
/// file cannot be walked); the stream is left at its start either way.
pub fn audio_start<S: Read + Seek + ?Sized>(source: &mut S) -> Option<(u64, u32)> {
    let moov = read_moov(source);
    source.seek(SeekFrom::Start(0)).ok()?;
    let moov = moov?;
    let trak = children(&moov)
        .filter(|(kind, _)| kind == b"trak")
        .find(|(_, trak)| {
            child(trak, b"mdia")
                .and_then(|m| child(m, b"hdlr"))
                .and_then(|h| h.get(8..12))
                == Some(&b"soun"[..])
        })?
        .1;
    let mdhd = child(child(trak, b"mdia")?, b"mdhd")?;
    let timescale = match *mdhd.first()? {
        1 => be32(mdhd.get(20..24)?),
        _ => be32(mdhd.get(12..16)?),
    };
    let elst = child(child(trak, b"edts")?, b"elst")?;
    // The first entry: its media time is where the presentation starts. An empty edit (-1)
    // would delay the start instead; that is left as it is.
    let media_time = match *elst.first()? {
        1 => i64::from_be_bytes(elst.get(16..24)?.try_into().ok()?),
        _ => i64::from(be32(elst.get(12..16)?) as i32),
    };
    if be32(elst.get(4..8)?) == 0 || media_time <= 0 || timescale == 0 {
        return None;
    }
    Some((media_time as u64, timescale))
}

/// The `moov` box's contents, wherever it is among the top-level boxes.
fn read_moov<S: Read + Seek + ?Sized>(source: &mut S) -> Option<Vec<u8>> {
    let len = source.seek(SeekFrom::End(0)).ok()?;
    let mut pos = 0u64;
    while pos + 8 <= len {
        source.seek(SeekFrom::Start(pos)).ok()?;
        let mut head = [0u8; 16];
        source.read_exact(&mut head[..8]).ok()?;
        let (size, header) = match be32(&head[0..4]) {
            0 => (len - pos, 8),
            1 => {
                source.read_exact(&mut head[8..16]).ok()?;
                (u64::from_be_bytes(head[8..16].try_into().ok()?), 16)
            }
            n => (u64::from(n), 8),
        };
        if size < header || pos.checked_add(size)? > len {
            return None;
        }
        if &head[4..8] == b"moov" {
            if size - header > MAX_MOOV {
                return None;
            }
            let mut body = vec![0u8; (size - header) as usize];
            source.read_exact(&mut body).ok()?;
            return Some(body);
        }
        pos += size;
    }
    None
}

/// The boxes inside `data`, as (type, contents); stops at the first malformed one.
fn children(data: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut rest = data;
    std::iter::from_fn(move || {
        let size = be32(rest.get(0..4)?) as usize;
        let kind: [u8; 4] = rest.get(4..8)?.try_into().ok()?;
        // 64-bit sizes do not occur inside a moov of this size; 0 runs to the end.
        let size = if size == 0 { rest.len() } else { size };
        if size < 8 || size > rest.len() {
            return None;
        }
        let body = &rest[8..size];
        rest = &rest[size..];
        Some((kind, body))
    })
}

fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    children(data).find(|(k, _)| k == kind).map(|(_, b)| b)
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(body);
        v
    }

    fn track(handler: &[u8; 4], media_time: i32) -> Vec<u8> {
        let hdlr = boxed(b"hdlr", &[&[0u8; 8][..], handler, &[0u8; 12]].concat());
        let mut mdhd_body = vec![0u8; 12];
        mdhd_body.extend_from_slice(&16_000u32.to_be_bytes());
        mdhd_body.extend_from_slice(&[0u8; 8]);
        let mdia = boxed(b"mdia", &[boxed(b"mdhd", &mdhd_body), hdlr].concat());
        let mut elst_body = vec![0u8; 4];
        elst_body.extend_from_slice(&1u32.to_be_bytes());
        elst_body.extend_from_slice(&100_000u32.to_be_bytes());
        elst_body.extend_from_slice(&media_time.to_be_bytes());
        elst_body.extend_from_slice(&[0, 1, 0, 0]);
        let edts = boxed(b"edts", &boxed(b"elst", &elst_body));
        boxed(b"trak", &[boxed(b"tkhd", &[0u8; 84]), edts, mdia].concat())
    }

    #[test]
    fn the_audio_tracks_first_edit_is_found_wherever_the_index_is() {
        let moov = boxed(
            b"moov",
            &[track(b"vide", 3000), track(b"soun", 1024)].concat(),
        );
        let ftyp = boxed(b"ftyp", b"M4A \0\0\0\0");
        let mdat = boxed(b"mdat", &[7u8; 5000]);
        for file in [
            [ftyp.clone(), moov.clone(), mdat.clone()].concat(),
            [ftyp.clone(), mdat.clone(), moov.clone()].concat(),
        ] {
            let mut c = std::io::Cursor::new(file);
            c.set_position(99);
            assert_eq!(audio_start(&mut c), Some((1024, 16_000)));
            assert_eq!(c.position(), 0);
        }
        // An empty edit, none, a cut file, garbage: nothing to skip.
        let empty = boxed(b"moov", &track(b"soun", -1));
        let cut = [ftyp.clone(), mdat.clone(), moov[..moov.len() / 2].to_vec()].concat();
        for file in [
            [ftyp.clone(), empty].concat(),
            [ftyp.clone(), mdat.clone()].concat(),
            cut,
            vec![0xff; 40],
        ] {
            assert_eq!(audio_start(&mut std::io::Cursor::new(file)), None);
        }
    }
}
