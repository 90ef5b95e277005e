use symnn::network;

network! {
    struct Net {
        input x[3];
        let mut z = 0.0;
        z = x * 2.0;
        output y = z;
        loss = y;
    }
}

fn main() {}
