//! The column dimension's calendar: consecutive months from the model's
//! first, and the facts' dates mapped onto them.

use chrono::{Datelike, Months as ChronoMonths, NaiveDate};

use super::def::MonthRange;

/// The first day of month `index` (0-based).
pub fn month_start(months: &MonthRange, index: u16) -> NaiveDate {
    months.first + ChronoMonths::new(u32::from(index))
}

/// The month index of a date, if the date falls inside the months.
pub fn month_of(months: &MonthRange, date: NaiveDate) -> Option<u16> {
    let m = (date.year() - months.first.year()) * 12 + date.month0() as i32
        - months.first.month0() as i32;
    u16::try_from(m).ok().filter(|m| *m < months.count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_map_both_ways() {
        let months = MonthRange {
            first: NaiveDate::from_ymd_opt(2024, 11, 1).unwrap(),
            count: 4,
        };
        assert_eq!(
            month_start(&months, 2),
            NaiveDate::from_ymd_opt(2025, 1, 1).unwrap()
        );
        assert_eq!(
            month_of(&months, NaiveDate::from_ymd_opt(2025, 2, 28).unwrap()),
            Some(3)
        );
        assert_eq!(
            month_of(&months, NaiveDate::from_ymd_opt(2025, 3, 1).unwrap()),
            None
        );
        assert_eq!(
            month_of(&months, NaiveDate::from_ymd_opt(2024, 10, 31).unwrap()),
            None
        );
    }
}
