pub mod io;
pub mod reference;
