fn main() {
    let pid: u32 = std::env::args().nth(1).unwrap().parse().unwrap();
    match pyrometer_sampler::dump::dump(pid) {
        Ok(threads) => {
            for t in threads {
                println!(
                    "{} ident={} native={} gil={} state={:?} ok={} depth={}",
                    t.name,
                    t.ident,
                    t.native_id,
                    t.holds_gil,
                    t.state,
                    t.ok,
                    t.frames.len()
                );
                for f in t.frames.iter().rev().take(6) {
                    println!(
                        "   {} ({}:{}) first={}",
                        f.qualname, f.file, f.line, f.first_line
                    );
                }
            }
        }
        Err(e) => {
            println!("error: {e}");
            if let Some(h) = e.hint() {
                println!("hint: {h}");
            }
        }
    }
}
