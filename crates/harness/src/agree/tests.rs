//! `harness agree`: the comparison, the estimates and the report, on hand-built pairs and runs.

use super::*;

fn pair(a: f64, b: f64) -> Pair {
    Pair {
        row: "r".into(),
        cell: "c".into(),
        a,
        b,
        noise: None,
    }
}

#[test]
fn agreement_is_relative_to_the_mean() {
    assert!(pair(100.0, 109.0).agrees());
    assert!(!pair(100.0, 112.0).agrees());
    assert!(pair(0.0, 0.0).agrees());
    assert!((pair(90.0, 110.0).difference() - 0.2).abs() < 1e-9);
}

#[test]
fn a_gated_metric_needs_ninety_percent_and_at_least_one_cell() {
    let mut m = MetricAgreement {
        name: "x",
        gated: true,
        pairs: vec![],
    };
    assert!(!m.passes(), "nothing compared is not a pass");
    m.pairs = (0..10).map(|_| pair(1.0, 1.0)).collect();
    m.pairs[0] = pair(1.0, 2.0);
    assert_eq!(m.agreeing(), 9);
    assert!(m.passes());
    m.pairs[1] = pair(1.0, 2.0);
    assert!(!m.passes());
    m.gated = false;
    assert!(m.passes(), "an ungated metric is reported, never failed");
}

fn noisy(steal: f64, requests: u64, spread: f64) -> Option<Noise> {
    Some(Noise {
        max_steal: steal,
        min_requests: requests,
        spread_a: spread,
        spread_b: 0.0,
        probe_a: None,
        probe_b: None,
    })
}

fn probed(a: f64, b: f64) -> Option<Noise> {
    noisy(0.0, 1_000, 0.5).map(|n| Noise {
        probe_a: Some(a),
        probe_b: Some(b),
        ..n
    })
}

#[test]
fn each_disagreement_gets_the_first_reason_that_applies() {
    let with = |noise| Pair {
        noise,
        ..pair(100.0, 80.0)
    };
    // Steal comes first, then few requests, then a cell's own spread.
    assert_eq!(with(noisy(0.05, 10, 0.5)).reason(1.0), Some(Reason::Steal));
    assert_eq!(
        with(noisy(0.049, 999, 0.5)).reason(1.0),
        Some(Reason::FewRequests)
    );
    assert_eq!(
        with(noisy(0.0, 1_000, 0.21)).reason(1.0),
        Some(Reason::NoisyCell)
    );
    // Steady runs: apart with the run-wide move (B cheaper, the whole B cheaper) or not.
    assert_eq!(
        with(noisy(0.0, 1_000, 0.2)).reason(0.9),
        Some(Reason::RunWideShift)
    );
    assert_eq!(
        with(noisy(0.0, 1_000, 0.2)).reason(1.1),
        Some(Reason::Steady)
    );
    assert_eq!(pair(1.0, 2.0).reason(1.0), None, "no runs, no reason");
}

#[test]
fn pearson_is_one_for_a_line_minus_one_against_it_and_zero_without_variation() {
    let line: Vec<(f64, f64)> = (0..5).map(|i| (i as f64, 2.0 * i as f64 + 1.0)).collect();
    assert!((pearson(&line) - 1.0).abs() < 1e-12);
    let against: Vec<(f64, f64)> = line.iter().map(|&(x, y)| (x, -y)).collect();
    assert!((pearson(&against) + 1.0).abs() < 1e-12);
    assert_eq!(pearson(&[(1.0, 2.0), (1.0, 3.0)]), 0.0);
}

#[test]
fn speed_correction_scales_each_cell_to_the_median_probe() {
    let with = |a, b, noise| Pair {
        noise,
        ..pair(a, b)
    };
    assert_eq!(
        speed_corrected_agreement(&[pair(1.0, 2.0)]),
        None,
        "no probe"
    );
    let pairs = [
        // 25 % apart, and so was the machine: agrees once scaled.
        with(100.0, 125.0, probed(40.0, 50.0)),
        // 25 % apart on a machine of one speed: stays apart.
        with(100.0, 125.0, probed(45.0, 45.0)),
        // Agreeing figures, the probe 25 % apart: scaling pulls them apart.
        with(100.0, 100.0, probed(40.0, 50.0)),
        // No probe: as it is (agrees).
        with(100.0, 105.0, None),
    ];
    assert_eq!(speed_corrected_agreement(&pairs), Some(2));
}

#[test]
fn repeats_needed_scales_the_gate_quantile_by_the_square_law() {
    assert_eq!(repeats_needed(&[], 3), None);
    assert_eq!(repeats_needed(&[pair(1.0, 2.0)], 0), None);
    // Ten cells, the 9th smallest apart by ln 1.2 (twice the tolerance, nearly): the median
    // of 3 runs must shrink its scatter by that factor, 3 × (ln 1.2 / ln(1.05/0.95))² runs.
    let mut pairs = vec![pair(100.0, 100.0); 8];
    pairs.push(pair(100.0, 120.0));
    pairs.push(pair(100.0, 300.0));
    let tolerance = (1.05f64 / 0.95).ln();
    let expected = 3.0 * (1.2f64.ln() / tolerance).powi(2);
    let needed = repeats_needed(&pairs, 3).expect("cells were given");
    assert!(
        (needed - expected).abs() < 1e-9,
        "{needed} against {expected}"
    );
    assert!((9.9..10.0).contains(&needed), "about 10 runs: {needed}");
    // The worst tenth does not count; the gate already holds: the runs are enough.
    pairs[8] = pair(100.0, 105.0);
    assert_eq!(repeats_needed(&pairs, 3), Some(3.0));
    // A zero in one run only, in the last two cells (so at the quantile): no number of repeats.
    pairs[8] = pair(0.0, 5.0);
    pairs[9] = pair(5.0, 0.0);
    assert_eq!(repeats_needed(&pairs, 3), Some(f64::INFINITY));
}

#[test]
fn the_run_wide_ratio_is_the_median_ratio() {
    assert_eq!(run_wide_ratio(&[]), 1.0);
    let pairs = [
        pair(1.0, 0.9),
        pair(1.0, 0.5),
        pair(2.0, 1.6),
        pair(0.0, 3.0),
    ];
    assert!((run_wide_ratio(&pairs) - 0.8).abs() < 1e-9, "0.5, 0.8, 0.9");
    let pairs = [pair(1.0, 0.9), pair(1.0, 0.5)];
    assert!(
        (run_wide_ratio(&pairs) - 0.7).abs() < 1e-9,
        "even count: the middle two"
    );
}
