module Greeting
  def self.greet(name) = "Hello, #{name}, from a Lambda layer!"
end
