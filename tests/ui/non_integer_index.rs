use symnn::network;

network! {
    struct Net {
        input x[3];
        param k;
        output y = x[k];
        loss = y;
    }
}

fn main() {}
