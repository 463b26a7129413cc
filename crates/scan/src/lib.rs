pub use yara_x;
