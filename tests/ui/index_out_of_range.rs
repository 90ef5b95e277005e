use symnn::network;

network! {
    struct Net {
        input x[3];
        output y = x[0] + x[3];
        loss = y;
    }
}

fn main() {}
