//! The judge on targets built to misbehave: a panic, a slow input and an allocation storm are
//! each a finding; a rejection is not.

use std::time::Duration;

use kafka_obs_fuzz::check::{self, Bounds, Finding, Verdict};
use kafka_obs_fuzz::targets::Target;

fn target(decode: fn(&[u8]) -> Result<(), String>) -> Target {
    Target {
        name: "test",
        about: "",
        decode,
        generate: |_| Vec::new(),
        dictionary: &[],
        seeds: &[],
    }
}

fn bounds() -> Bounds {
    Bounds {
        time: Duration::from_millis(200),
        alloc: 1 << 20,
        alloc_per_byte: 16,
    }
}

#[test]
fn a_panic_is_a_finding_with_its_message() {
    let _turn = crate::exclusive();
    let t = target(|data| {
        let first = data.first().copied().unwrap_or_default();
        assert!(first != 7, "seven is not allowed");
        Ok(())
    });
    std::panic::set_hook(Box::new(|_| {}));
    let verdict = check::run(&t, &[7], &bounds());
    let _ = std::panic::take_hook();
    assert_eq!(
        verdict,
        Verdict::Finding(Finding::Panic("seven is not allowed".into()))
    );
    assert_eq!(check::run(&t, &[8], &bounds()), Verdict::Accepted);
}

#[test]
fn an_input_past_the_time_bound_is_a_finding() {
    let _turn = crate::exclusive();
    let t = target(|data| {
        std::thread::sleep(Duration::from_millis(u64::from(data.len() as u8) * 100));
        Err("slept".into())
    });
    assert!(matches!(
        check::run(&t, &[0; 3], &bounds()),
        Verdict::Finding(Finding::Slow(took)) if took >= Duration::from_millis(300)
    ));
    assert_eq!(
        check::run(&t, &[], &bounds()),
        Verdict::Rejected("slept".into())
    );
}

#[test]
fn an_allocation_past_the_bound_is_a_finding_and_scales_with_the_input() {
    let _turn = crate::exclusive();
    // 64 KiB per input byte: within the bound for no input, past it for 32 bytes
    // (1 MiB + 16 B x 32 allowed, 2 MiB allocated).
    let t = target(|data| {
        let v = std::hint::black_box(vec![1u8; data.len() * 64 * 1024]);
        Err(format!("{}", v.len()))
    });
    assert!(matches!(
        check::run(&t, &[], &bounds()),
        Verdict::Rejected(_)
    ));
    assert!(matches!(
        check::run(&t, &[0; 32], &bounds()),
        Verdict::Finding(Finding::Alloc(bytes)) if bytes >= 2 << 20
    ));
}
