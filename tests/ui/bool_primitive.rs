// `bool` itself is not ShmSafe, so neither a `Segment<bool>` nor an array
// of them can be opened.
fn main() {
    let _ = shmsync::Segment::<[bool; 4]>::open("flags");
}
