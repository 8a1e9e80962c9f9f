//! The instruction set the hot kernels run with: each op (`ops`) calls its
//! AVX2 + FMA f32 version (`simd`, `gemm`) when the run uses them and the
//! scalar type is f32, its portable one otherwise. [`try_simd`] is that
//! choice.

use std::any::TypeId;

/// The instruction set of the hot kernels, chosen once per run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Isa {
    /// The portable kernels (separate multiply and add).
    Portable,
    /// AVX2 vectors and fused multiply-adds for f32 (x86-64 only).
    Avx2Fma,
}

impl Isa {
    /// The best the CPU offers.
    pub(crate) fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Isa::Avx2Fma;
        }
        Isa::Portable
    }
}

/// `x` as f32 when `T` is f32.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) fn f32s<T: 'static>(x: &[T]) -> Option<&[f32]> {
    // SAFETY: T is f32, so the slice is a slice of f32.
    (TypeId::of::<T>() == TypeId::of::<f32>())
        .then(|| unsafe { std::slice::from_raw_parts(x.as_ptr().cast::<f32>(), x.len()) })
}

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) fn f32s_mut<T: 'static>(x: &mut [T]) -> Option<&mut [f32]> {
    // SAFETY: T is f32, so the slice is a slice of f32.
    (TypeId::of::<T>() == TypeId::of::<f32>())
        .then(|| unsafe { std::slice::from_raw_parts_mut(x.as_mut_ptr().cast::<f32>(), x.len()) })
}

/// Runs `$simd` (an expression using the f32 views of the listed slices)
/// when the run uses AVX2 and `T` is f32; evaluates to whether it did.
macro_rules! try_simd {
    ($isa:expr, [$($s:ident),*], [$($m:ident),*], $simd:expr) => {{
        #[cfg(target_arch = "x86_64")]
        {
            let mut done = false;
            if $isa == $crate::train::isa::Isa::Avx2Fma {
                if let ($(Some($s),)* $(Some($m),)*) = ($($crate::train::isa::f32s($s),)* $($crate::train::isa::f32s_mut($m),)*) {
                    // SAFETY: `Isa::Avx2Fma` is only chosen on CPUs with AVX2 and FMA.
                    #[allow(unused_unsafe)]
                    unsafe {
                        $simd;
                    }
                    done = true;
                }
            }
            done
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = $isa;
            false
        }
    }};
}

pub(crate) use try_simd;
