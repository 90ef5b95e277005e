use symnn::network;

network! {
    struct Net {
        input x[3];
        param n;
        let mut s = 0.0;
        for i in 0..n {
            s += x[i];
        }
        output y = s;
        loss = y;
    }
}

fn main() {}
