//! The transcendental functions generated code calls. They are the very
//! functions the reference interpreter uses (Rust's `exp_m1`, `ln_1p`, ...),
//! so both engines round identically.

pub extern "C" fn expm1_f32(x: f32) -> f32 {
    x.exp_m1()
}
pub extern "C" fn expm1_f64(x: f64) -> f64 {
    x.exp_m1()
}
pub extern "C" fn log1p_f32(x: f32) -> f32 {
    x.ln_1p()
}
pub extern "C" fn log1p_f64(x: f64) -> f64 {
    x.ln_1p()
}
pub extern "C" fn exp_f32(x: f32) -> f32 {
    x.exp()
}
pub extern "C" fn exp_f64(x: f64) -> f64 {
    x.exp()
}
pub extern "C" fn tanh_f32(x: f32) -> f32 {
    x.tanh()
}
pub extern "C" fn tanh_f64(x: f64) -> f64 {
    x.tanh()
}

/// `(symbol, f32 version, f64 version)` for each function.
pub const FUNCTIONS: [(&str, *const u8, *const u8); 4] = [
    ("expm1", expm1_f32 as *const u8, expm1_f64 as *const u8),
    ("log1p", log1p_f32 as *const u8, log1p_f64 as *const u8),
    ("exp", exp_f32 as *const u8, exp_f64 as *const u8),
    ("tanh", tanh_f32 as *const u8, tanh_f64 as *const u8),
];
