use symnn::network;

network! {
    struct Net {
        input x;
        fn fact(n) = n * fact(n - 1.0);
        output y = fact(x);
        loss = y;
    }
}

fn main() {}
