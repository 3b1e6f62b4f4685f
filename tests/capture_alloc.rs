//! The capture callback path does not allocate: a counting global allocator watches
//! `Pusher::push` (what the cpal callback runs) convert and push thousands of blocks, including
//! blocks that overflow the ring. Only this thread's allocations count: the test harness
//! allocates on its own threads meanwhile.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use calmline::live::capture::ring;

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    // Const-initialised: reading it never allocates.
    static WATCHED: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if WATCHED.with(Cell::get) {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn pushing_from_the_callback_never_allocates() {
    let (mut pusher, mut consumer, health) = ring(8_000, 1, 0.25); // 2000 samples
    let f32_block = vec![0.25f32; 960];
    let i16_block = vec![1000i16; 960];
    let before = ALLOCS.load(Ordering::SeqCst);
    WATCHED.with(|w| w.set(true));
    for i in 0..5_000 {
        // The callback also records the host's delay of each period.
        pusher.set_delay(std::time::Duration::from_micros(40_000 + i));
        if i % 2 == 0 {
            pusher.push(&f32_block);
        } else {
            pusher.push(&i16_block);
        }
        // The analysis side keeps up most of the time, and falls behind now and then (overflow).
        if i % 7 > 2 {
            while consumer.pop().is_ok() {}
        }
    }
    WATCHED.with(|w| w.set(false));
    let allocs = ALLOCS.load(Ordering::SeqCst) - before;
    assert_eq!(allocs, 0, "the callback path allocated {allocs} times");
    assert_eq!(health.delay_us.load(Ordering::Relaxed), 44_999);
    assert!(
        health.dropped.load(Ordering::Relaxed) > 0,
        "the test must exercise overflow too"
    );
}
