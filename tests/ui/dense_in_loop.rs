use symnn::network;

network! {
    struct Net {
        input x[4];
        let mut h = x;
        for _ in 0..2 {
            h = dense(h, 4, relu);
        }
        output y = sum(h);
        loss = y;
    }
}

fn main() {}
