use symnn::network;

network! {
    struct Net {
        input x[3];
        let mut d = [0.0, 0.0, 0.0];
        for i in 0..3 {
            d[i] = x[i + 1] - x[i];
        }
        output y = d;
        loss = sum(d);
    }
}

fn main() {}
