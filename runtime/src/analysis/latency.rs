//! When a prediction becomes right and stays right.

use ndarray::ArrayView2;

use crate::engine::Real;

/// Index of the largest value, NaNs skipped; the first on ties. Takes a
/// slice or an array's row alike.
pub fn argmax<'a, T: Real + 'a>(values: impl IntoIterator<Item = &'a T>) -> Option<usize> {
    let mut best: Option<(usize, T)> = None;
    for (i, &v) in values.into_iter().enumerate() {
        if v.is_nan() {
            continue;
        }
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i)
}

/// The first step (1-based) from which the argmax of every recorded row is
/// `label` up to the end, or `None` when the last row is wrong. Row r of
/// `rows` is recorded at step `(r + 1) * every`.
pub fn steps_until_right(rows: ArrayView2<f64>, every: usize, label: usize) -> Option<usize> {
    let mut first_right = None;
    for (r, row) in rows.outer_iter().enumerate().rev() {
        if argmax(row) == Some(label) {
            first_right = Some(r);
        } else {
            break;
        }
    }
    first_right.map(|r| (r + 1) * every)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn right_and_stays_right() {
        // 4 rows of 2 classes: right, wrong, right, right.
        let rows = ndarray::arr2(&[[0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 2.0]]);
        assert_eq!(steps_until_right(rows.view(), 1, 1), Some(3));
        assert_eq!(steps_until_right(rows.view(), 5, 1), Some(15));
        assert_eq!(steps_until_right(rows.view(), 1, 0), None);
    }

    #[test]
    fn argmax_takes_the_first_of_ties_and_skips_nans() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, -1.0]), Some(1));
        assert_eq!(argmax(&[f64::NAN, 2.0, 1.0]), Some(1));
        assert_eq!(argmax::<f32>(&[f32::NAN]), None);
        assert_eq!(argmax::<f64>(&[]), None);
    }
}
