use symnn::network;

network! {
    struct Net {
        input x;
        x = x * 2.0;
        output y = x;
        loss = y;
    }
}

fn main() {}
