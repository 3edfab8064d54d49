#![allow(dead_code)]
pub mod stand_in;
