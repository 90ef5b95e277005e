use symnn::network;

network! {
    struct Net {
        input x;
        output y = h * 2.0;
        let h = x + 1.0;
        loss = y;
    }
}

fn main() {}
