use symnn::network;

network! {
    struct Net {
        input x[3];
        let acc = 0.0;
        for i in 0..3 {
            acc += x[i];
        }
        output y = acc;
        loss = y;
    }
}

fn main() {}
