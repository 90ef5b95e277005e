use symnn::network;

network! {
    struct Net {
        input x[2];
        for i in 0..2 {
            output y = x[i];
        }
        loss = sum(x);
    }
}

fn main() {}
