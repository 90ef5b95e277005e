use symnn::network;

network! {
    struct Net {
        input x;
        output y = x.powi(0.5);
        loss = y;
    }
}

fn main() {}
