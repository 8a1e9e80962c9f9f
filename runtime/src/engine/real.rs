//! The scalar type a simulation runs in.
//!
//! Precision is chosen at run time (f32 by default, f64 on request), so the
//! whole interpreter is generic over [`Real`]. In f32 *everything* is f32:
//! weights, inputs, state and coefficients. Coefficients (filter `a`/`b`,
//! `amplitude/dt`, `1/tau_ref`, ...) are computed once in f64 and then cast,
//! which is what Nengo does when its signals are float32 (Python floats are
//! f64 and NumPy casts them when they meet a float32 array).

use num_traits::Float;

/// A floating-point scalar every engine (reference, JIT, trainer) runs in.
///
/// `to_f64` has the same name as [`num_traits::ToPrimitive::to_f64`] (a
/// supertrait of `Float`), so method-call syntax is ambiguous when both traits
/// are in scope: call it as `Real::to_f64(x)`.
pub trait Real: Float + Send + Sync + Default + std::fmt::Debug + 'static {
    /// Rounds an f64 to this type (exact for f64).
    fn from_f64(x: f64) -> Self;
    /// Widens to f64 (exact for both types).
    fn to_f64(self) -> f64;
}

impl Real for f32 {
    #[inline]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    #[inline]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Real for f64 {
    #[inline]
    fn from_f64(x: f64) -> Self {
        x
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
}
