//! Spreading: how a value written to a cell is distributed over its facts.
//!
//! Plain arithmetic over [`Units`] (no I/O), following the planning tools
//! users know (TM1 spreading, Jedox splashing):
//!
//! * **Proportional** (default): every fact is scaled by new / current, so
//!   zero facts stay zero and siblings keep their ratios. When the facts being
//!   spread sum to zero there is no ratio to keep, and the spread is equal.
//! * **Equal**: the value is split evenly.
//! * **Holds**: held facts keep their value; the target minus their sum is
//!   spread over the free ones.
//! * **Exact totals**: shares are rounded down and the leftover units go, one
//!   each, to the facts with the largest remainders (ties: earlier facts
//!   first), so the results always sum to exactly the target.

use crate::decimal::{self, Units};

/// How the new value is distributed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    #[default]
    Proportional,
    Equal,
}

/// How the requested value combines with the cell's current value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The cell becomes the value (in the measure's units).
    Set(Units),
    /// The cell grows by the value (in the measure's units).
    Add(Units),
    /// The cell changes by `digits / 10^scale` percent; the result is
    /// rounded half away from zero to the measure's unit.
    Percent { digits: Units, scale: u32 },
}

/// Why a spread cannot be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpreadError {
    #[error("every fact beneath the cell is held: nothing is free to change")]
    EverythingHeld,
    #[error("the new value is out of range")]
    Overflow,
}

impl Mode {
    /// The cell's new total, given its current one.
    pub fn target(self, current: Units) -> Result<Units, SpreadError> {
        match self {
            Mode::Set(v) => Ok(v),
            Mode::Add(d) => current.checked_add(d).ok_or(SpreadError::Overflow),
            // The result is rounded, not the change: current × (100 + p) / 100,
            // half away from zero, as a spreadsheet's ROUND(A1 * (1 + p%)).
            Mode::Percent { digits, scale } => {
                let den = 100 * decimal::pow10(scale);
                let factor = den.checked_add(digits).ok_or(SpreadError::Overflow)?;
                let scaled = current.checked_mul(factor).ok_or(SpreadError::Overflow)?;
                Ok(decimal::div_round(scaled, den))
            }
        }
    }
}

/// Spreads `target` over facts currently worth `current`, keeping the facts
/// flagged in `held` unchanged (`None`: nothing is held). Returns every
/// fact's new value, in order.
pub fn spread_with_holds(
    target: Units,
    current: &[i64],
    held: Option<&[bool]>,
    method: Method,
) -> Result<Vec<Units>, SpreadError> {
    let Some(held) = held else {
        return Ok(spread(target, current, method));
    };
    debug_assert_eq!(current.len(), held.len());
    let held_sum: Units = current
        .iter()
        .zip(held)
        .filter(|(_, h)| **h)
        .map(|(v, _)| Units::from(*v))
        .sum();
    let free: Vec<usize> = (0..current.len()).filter(|&i| !held[i]).collect();
    if free.is_empty() {
        return Err(SpreadError::EverythingHeld);
    }
    let free_current: Vec<i64> = free.iter().map(|&i| current[i]).collect();
    let shares = spread(target - held_sum, &free_current, method);
    let mut out: Vec<Units> = current.iter().map(|&v| Units::from(v)).collect();
    for (&i, share) in free.iter().zip(shares) {
        out[i] = share;
    }
    Ok(out)
}

/// Spreads `target` over facts currently worth `current` (at least one).
/// The result always sums to exactly `target`.
pub fn spread<W: Copy + Into<Units>>(target: Units, current: &[W], method: Method) -> Vec<Units> {
    assert!(!current.is_empty(), "spread needs at least one fact");
    let (mut total, mut largest): (Units, Units) = (0, 0);
    for w in current {
        let w: Units = (*w).into();
        total += w;
        largest = largest.max(w.abs());
    }
    match method {
        Method::Proportional if total != 0 => proportional(target, current, total, largest),
        _ => equal(target, current.len()),
    }
}

/// Largest-remainder apportionment of `target` in proportion to `weights`
/// (which sum to the non-zero `total`; `largest` is the largest of their
/// absolute values).
fn proportional<W: Copy + Into<Units>>(
    target: Units,
    weights: &[W],
    total: Units,
    largest: Units,
) -> Vec<Units> {
    // Normalise to a positive denominator (negate weights and total
    // together); the shares are unchanged.
    let (total, sign) = if total < 0 { (-total, -1) } else { (total, 1) };
    // Nearly always every product target × weight fits 64 bits, and a
    // 64-bit division is several times cheaper than a 128-bit one: a
    // spread over 1,000,000 facts divides 1,000,000 times.
    let narrow = i64::try_from(total).is_ok()
        && target
            .checked_mul(largest)
            .is_some_and(|p| i64::try_from(p).is_ok());
    if narrow {
        let (target, total) = (target as i64, total as i64);
        let mut shares = Vec::with_capacity(weights.len());
        let mut remainders = Vec::with_capacity(weights.len());
        for (i, &w) in weights.iter().enumerate() {
            let num = target * (w.into() as i64 * sign as i64);
            shares.push(Units::from(num.div_euclid(total)));
            remainders.push((num.rem_euclid(total), i as u32));
        }
        let leftover = target as Units - shares.iter().sum::<Units>();
        distribute_leftover(&mut shares, &mut remainders, leftover);
        return shares;
    }
    let mut shares = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    for (i, &w) in weights.iter().enumerate() {
        let (q, r) = decimal::div_floor(target * (w.into() * sign), total);
        shares.push(q);
        remainders.push((r, i as u32));
    }
    // The floors fall short by fewer units than there are facts; every fact
    // that receives one has a non-zero remainder, so zero weights stay zero.
    let leftover = target - shares.iter().sum::<Units>();
    distribute_leftover(&mut shares, &mut remainders, leftover);
    shares
}

/// Splits `target` evenly over `n` facts, the leftover units going to the
/// first ones.
fn equal(target: Units, n: usize) -> Vec<Units> {
    let (base, leftover) = decimal::div_floor(target, n as Units);
    (0..n)
        .map(|i| base + Units::from((i as Units) < leftover))
        .collect()
}

/// Gives the `leftover` units, one each, to the facts with the largest
/// remainders (`(remainder, fact)`; any integer type of remainder).
fn distribute_leftover<R: Ord + Copy>(
    shares: &mut [Units],
    remainders: &mut [(R, u32)],
    leftover: Units,
) {
    debug_assert!(leftover >= 0 && (leftover as usize) <= shares.len());
    if leftover == 0 {
        return;
    }
    // Largest remainder first; ties go to the earlier fact. Only which
    // facts get a unit matters, not their order: a selection, not a sort
    // (linear; a subtotal over 100,000+ facts spreads noticeably faster).
    let n = leftover as usize;
    remainders.select_nth_unstable_by(n - 1, |a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in &remainders[..n] {
        shares[i as usize] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn proportional_keeps_ratios_and_sums_exactly() {
        assert_eq!(
            spread(200, &[10, 30, 60], Method::Proportional),
            vec![20, 60, 120]
        );
        // 100 over 1:1:1 -> 33.33.. each: the leftover unit goes to the first.
        assert_eq!(
            spread(100, &[5, 5, 5], Method::Proportional),
            vec![34, 33, 33]
        );
        // Largest remainder wins the leftover, not position.
        assert_eq!(spread(10, &[1, 2, 4], Method::Proportional), vec![1, 3, 6]);
    }

    #[test]
    fn zero_facts_stay_zero_while_a_sibling_is_non_zero() {
        assert_eq!(spread(7, &[0, 3, 0], Method::Proportional), vec![0, 7, 0]);
    }

    #[test]
    fn proportional_falls_back_to_equal_when_all_facts_are_zero() {
        assert_eq!(spread(10, &[0, 0, 0], Method::Proportional), vec![4, 3, 3]);
    }

    #[test]
    fn equal_splits_evenly_including_negative_targets() {
        assert_eq!(spread(10, &[1, 100, 7], Method::Equal), vec![4, 3, 3]);
        assert_eq!(spread(-7, &[0, 0, 0], Method::Equal), vec![-2, -2, -3]);
    }

    #[test]
    fn negative_weights_scale_correctly() {
        assert_eq!(spread(-20, &[-5, -5], Method::Proportional), vec![-10, -10]);
        assert_eq!(spread(20, &[-5, -15], Method::Proportional), vec![5, 15]);
    }

    #[test]
    fn holds_keep_their_value_and_reduce_the_target() {
        let out = spread_with_holds(
            100,
            &[10, 20, 30],
            Some(&[false, true, false]),
            Method::Proportional,
        );
        assert_eq!(out, Ok(vec![20, 20, 60]));
        assert_eq!(
            spread_with_holds(1, &[1, 2], Some(&[true, true]), Method::Equal),
            Err(SpreadError::EverythingHeld)
        );
    }

    #[test]
    fn modes_compute_the_target() {
        assert_eq!(Mode::Set(5).target(100), Ok(5));
        assert_eq!(Mode::Add(-30).target(100), Ok(70));
        assert_eq!(
            Mode::Percent {
                digits: 10,
                scale: 0
            }
            .target(1005),
            Ok(1106)
        ); // 1105.5 -> 1106
        assert_eq!(
            Mode::Percent {
                digits: -125,
                scale: 1
            }
            .target(200),
            Ok(175)
        );
        assert_eq!(
            Mode::Percent {
                digits: -100,
                scale: 0
            }
            .target(-333),
            Ok(0)
        );
        assert_eq!(Mode::Add(1).target(Units::MAX), Err(SpreadError::Overflow));
    }

    #[test]
    fn percent_rounds_the_result_half_away_from_zero() {
        let pct = |digits| Mode::Percent { digits, scale: 0 };
        // Exact halves, both signs of value and change.
        assert_eq!(pct(-50).target(1), Ok(1)); // 0.5 -> 1
        assert_eq!(pct(-50).target(-1), Ok(-1)); // -0.5 -> -1
        assert_eq!(pct(50).target(3), Ok(5)); // 4.5 -> 5
        assert_eq!(pct(50).target(-3), Ok(-5)); // -4.5 -> -5
        assert_eq!(pct(-50).target(3), Ok(2)); // 1.5 -> 2
        assert_eq!(pct(-50).target(-3), Ok(-2)); // -1.5 -> -2
        // Not halves: ordinary rounding.
        assert_eq!(pct(-40).target(1), Ok(1)); // 0.6 -> 1
        assert_eq!(pct(-60).target(1), Ok(0)); // 0.4 -> 0
    }

    fn weights() -> impl Strategy<Value = Vec<Units>> {
        prop::collection::vec(prop_oneof![Just(0i128), 0i128..1_000_000], 1..60)
    }

    proptest! {
        #[test]
        fn spreads_always_sum_to_the_target(
            target in -10_000_000i128..10_000_000,
            w in prop::collection::vec(-1_000_000i128..1_000_000, 1..60),
            equal in any::<bool>(),
        ) {
            let method = if equal { Method::Equal } else { Method::Proportional };
            let out = spread(target, &w, method);
            prop_assert_eq!(out.iter().sum::<Units>(), target);
            prop_assert_eq!(out.len(), w.len());
        }

        #[test]
        fn proportional_shares_are_within_one_unit_of_the_ideal(target in 0i128..10_000_000, w in weights()) {
            let total: Units = w.iter().sum();
            prop_assume!(total != 0);
            let out = spread(target, &w, Method::Proportional);
            for (share, weight) in out.iter().zip(&w) {
                // |share * total - target * weight| < total
                prop_assert!((share * total - target * weight).abs() < total);
                if *weight == 0 { prop_assert_eq!(*share, 0); }
                prop_assert!(*share >= 0, "non-negative facts stay non-negative");
            }
        }

        #[test]
        fn the_largest_remainders_get_the_leftover_units(target in -10_000i128..10_000, w in weights()) {
            let total: Units = w.iter().sum();
            prop_assume!(total > 0);
            // The rule spelled out: every floor share, then one more unit
            // for each of the largest remainders in a full ordering (ties
            // to the earlier fact).
            let mut floors: Vec<(Units, Units, usize)> = w
                .iter()
                .enumerate()
                .map(|(i, &wi)| {
                    let (q, r) = decimal::div_floor(target * wi, total);
                    (q, r, i)
                })
                .collect();
            let leftover = target - floors.iter().map(|f| f.0).sum::<Units>();
            floors.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
            let mut expected = vec![0; w.len()];
            for (k, &(q, _, i)) in floors.iter().enumerate() {
                expected[i] = q + Units::from((k as Units) < leftover);
            }
            prop_assert_eq!(spread(target, &w, Method::Proportional), expected);
        }

        #[test]
        fn products_beyond_64_bits_spread_as_exactly(
            target in 10i128.pow(15)..10i128.pow(17),
            w in prop::collection::vec(0i64..1_000_000_000_000, 1..60),
        ) {
            // target × weight needs 128 bits: the wide path.
            let total: Units = w.iter().map(|&x| Units::from(x)).sum();
            prop_assume!(total != 0);
            let out = spread(target, &w, Method::Proportional);
            prop_assert_eq!(out.iter().sum::<Units>(), target);
            for (share, weight) in out.iter().zip(&w) {
                prop_assert!((share * total - target * Units::from(*weight)).abs() < total);
            }
        }

        #[test]
        fn holds_never_change_held_facts(target in 0i128..1_000_000, w in weights(), mask in prop::collection::vec(any::<bool>(), 60)) {
            let held = &mask[..w.len()];
            let w: Vec<i64> = w.iter().map(|&x| x as i64).collect();
            match spread_with_holds(target, &w, Some(held), Method::Proportional) {
                Ok(out) => {
                    prop_assert_eq!(out.iter().sum::<Units>(), target);
                    for i in 0..w.len() { if held[i] { prop_assert_eq!(out[i], Units::from(w[i])); } }
                }
                Err(e) => prop_assert!(held.iter().all(|h| *h) && e == SpreadError::EverythingHeld),
            }
        }
    }
}
